# Sourced by run-on-gpu.sh and benchmarks/pytorch/run_compare.sh on the GPU machine: finds the CUDA 13 / cuDNN 9
# libraries that dl-train's JavaCPP wrappers link, puts their directories on LD_LIBRARY_PATH, and leaves in
# $found one "lib=DIR" (or "lib=MISSING") per library, for the logs. PYTHON (default python3) locates the nvidia-*
# pip packages that PyTorch installs.
# One directory per library, first hit wins: the CUDA toolkit, the distribution's multiarch directory (the driver's
# libcuda.so.1 lives there), then the nvidia-* pip packages that PyTorch installs (cuBLAS and cuDNN come from there
# on machines without a system cuDNN).
# /usr/local/nvidia/lib64 (and lib) is where container GPU machines mount the driver's libraries, libcuda.so.1 among
# them (the device machines here have the driver under /usr/local/nvidia).
candidates=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64
            /usr/local/nvidia/lib64 /usr/local/nvidia/lib)
py=${PYTHON:-python3}
if command -v "$py" >/dev/null 2>&1; then
  pyfind='import glob, os
try:
    import nvidia
except Exception:
    raise SystemExit(0)
for base in list(nvidia.__path__):
    for d in sorted(glob.glob(os.path.join(base, "*", "lib")) + glob.glob(os.path.join(base, "*", "*", "lib"))):
        print(d)'
  while IFS= read -r d; do [ -n "$d" ] && candidates+=("$d"); done < <(timeout --kill-after=5 20 "$py" -c "$pyfind" 2>/dev/null)   # bounded: no step limit covers it
fi
libpath=""
found=""
# What the JNI wrappers we load link (readelf -d NEEDED of libjnicudart, libjnicublas, libjnicudnn in the
# org.bytedeco:cuda jar): cuDNN 9 as its sub-libraries; libcudnn.so.9 itself is the front library they sit beside.
# And libnvrtc.so.13, which cuDNN itself dlopens for its runtime-compiled engines (cuDNN's "Building and Running a
# cuDNN Dependent Program": libcublasLt.so and libnvrtc.so are "required by dlopen() at runtime"; dl-train's own
# kernels need no NVRTC).
# A library in none of the candidates may still be found by the loader: through a directory already on
# LD_LIBRARY_PATH, or the ld.so cache (ldconfig -p). Those are reported with where, not as MISSING.
for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libcudnn_graph.so.9 libcudnn_ops.so.9 libcudnn_cnn.so.9 libcudnn_adv.so.9 libnvrtc.so.13; do
  hit=""
  for d in "${candidates[@]}"; do
    if [ -e "$d/$lib" ]; then hit=$d; break; fi
  done
  if [ -n "$hit" ]; then
    found="$found $lib=$hit"
    case ":$libpath:" in *":$hit:"*) ;; *) libpath=${libpath:+$libpath:}$hit ;; esac
    continue
  fi
  IFS=: read -r -a ldpath <<< "${LD_LIBRARY_PATH:-}"
  for d in "${ldpath[@]}"; do
    if [ -n "$d" ] && [ -e "$d/$lib" ]; then hit="$d(LD_LIBRARY_PATH)"; break; fi
  done
  if [ -z "$hit" ] && command -v ldconfig >/dev/null 2>&1; then
    cached=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l && /x86-64/ { print $NF; exit }')
    [ -n "$cached" ] && hit="$cached(ld.so.cache)"
  fi
  found="$found $lib=${hit:-MISSING}"
done
export LD_LIBRARY_PATH=$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
