# dl-train image with the CUDA backend: CUDA 13 + cuDNN 9 runtime libraries, a JRE 25 and the shaded dl-train jar.
# The GPU needs the host's NVIDIA driver (>= 580 for CUDA 13) and the NVIDIA Container Toolkit (`--gpus all`).
#   docker build -t dl-train .
#   docker run --rm --gpus all --user "$(id -u):$(id -g)" --stop-timeout 120 -v "$PWD/data:/data" -v "$PWD/out:/out" dl-train \
#       --model lenet5 --data fashion-mnist --data-dir /data --device cuda --out /out/lenet5
# Without --gpus the same image trains on the CPU (--device cpu, or --device auto, which says why it fell back).
# --user: the image's user (uid 10001) cannot write an out/ that you own. --stop-timeout: on SIGTERM the training stops
# after the step in progress and writes a checkpoint, which can take longer than docker stop's default 10 s (README, Docker).

# ---- build: Maven + JDK 25 (pinned tags)
FROM maven:3.9.11-eclipse-temurin-25 AS build
WORKDIR /src
# Dependencies first, so source edits do not re-download them.
COPY pom.xml ./
COPY kernels/pom.xml kernels/
COPY runtime/pom.xml runtime/
COPY datasets/pom.xml datasets/
COPY models/pom.xml models/
COPY cli/pom.xml cli/
RUN mvn -B -ntp -q dependency:go-offline -pl cli -am || true
COPY kernels kernels
COPY runtime runtime
COPY datasets datasets
COPY models models
COPY cli cli
RUN mvn -B -ntp -q -DskipTests -Dmaven.test.skip=true package -pl cli -am

# ---- run: CUDA 13.0 + cuDNN 9 runtime (cudart, cuBLAS, NVRTC, cuDNN) on Ubuntu 24.04, plus Temurin's JRE 25
FROM nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
# The JRE of the official Temurin image for the same Ubuntu release (noble), so its glibc matches.
COPY --from=eclipse-temurin:25-jre-noble /opt/java/openjdk /opt/java/openjdk
# LANG: the CUDA base sets no locale, and in the C locale Java cannot name a file whose path is not ASCII (a class
# folder 'café'); C.UTF-8 is built into Ubuntu's glibc. (./dl-train sets the same where it finds the C locale.)
ENV JAVA_HOME=/opt/java/openjdk \
    PATH=/opt/java/openjdk/bin:$PATH \
    LANG=C.UTF-8 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# Fonts for the PNG charts (AWT headless). dl-train downloads nothing; CA certificates are for tools users add.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates fontconfig fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 dltrain \
    && mkdir -p /data /out \
    && chown dltrain:dltrain /data /out
COPY --from=build /src/cli/target/dl-train.jar /opt/dl-train/dl-train.jar
USER dltrain
WORKDIR /out
# /data: datasets (read), /out: run directories (metrics, checkpoints, charts).
VOLUME ["/data", "/out"]
# Exec form: java is PID 1 and receives docker stop's SIGTERM itself (a shell form would leave /bin/sh as PID 1, which
# does not pass it on). The same options as ./dl-train, and JavaCPP's cache, where it extracts its JNI libraries
# (OpenBLAS, the CUDA wrappers) on first use: on the command line, not in JAVA_TOOL_OPTIONS, with which the JVM's first
# line on every run would be "Picked up JAVA_TOOL_OPTIONS: ..." on stderr, before dl-train's own.
ENTRYPOINT ["java", "--enable-native-access=ALL-UNNAMED", "-Xss4m", "-Dorg.bytedeco.javacpp.cachedir=/home/dltrain/.javacpp", "-jar", "/opt/dl-train/dl-train.jar"]
CMD ["--help"]
