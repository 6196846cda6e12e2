# Sourced by run-on-gpu.sh and benchmarks/pytorch/run_compare.sh on the GPU machine: finds the CUDA 13 / cuDNN 9
# libraries that dl-train's JavaCPP wrappers link, puts their directories on LD_LIBRARY_PATH, and leaves in
# $found one "lib=DIR" (or "lib=MISSING") per library, for the logs. PYTHON (default python3) locates the nvidia-*
# pip packages that PyTorch installs.
# One directory per library, first hit wins: the CUDA toolkit, the distribution's multiarch directory (the driver's
# libcuda.so.1 lives there), then the nvidia-* pip packages that PyTorch installs (cuBLAS and cuDNN come from there
# on machines without a system cuDNN).
candidates=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64)
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
  while IFS= read -r d; do [ -n "$d" ] && candidates+=("$d"); done < <("$py" -c "$pyfind" 2>/dev/null)
fi
libpath=""
found=""
# What the JNI wrappers we load link (readelf -d NEEDED of libjnicudart, libjnicublas, libjnicudnn in the
# org.bytedeco:cuda jar): cuDNN 9 as its sub-libraries; libcudnn.so.9 itself is the front library they sit beside.
for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libcudnn_graph.so.9 libcudnn_ops.so.9 libcudnn_cnn.so.9 libcudnn_adv.so.9; do
  hit=""
  for d in "${candidates[@]}"; do
    if [ -e "$d/$lib" ]; then hit=$d; break; fi
  done
  if [ -n "$hit" ]; then
    found="$found $lib=$hit"
    case ":$libpath:" in *":$hit:"*) ;; *) libpath=${libpath:+$libpath:}$hit ;; esac
  else
    found="$found $lib=MISSING"
  fi
done
export LD_LIBRARY_PATH=$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
