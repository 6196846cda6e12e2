# dl-train image. Today: the CPU backend (the CUDA issue turns the runtime stage into a CUDA 13 + cuDNN 9 base).
#   docker build -t dl-train .
#   docker run --rm -v /usr/share/datasets/fashion-mnist:/data:ro -v "$PWD/runs:/runs" dl-train \
#       --model lenet5 --data fashion-mnist --data-dir /data --out /runs/lenet5

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

# ---- run: JRE 25 only
FROM eclipse-temurin:25-jre-noble
RUN useradd --create-home --uid 10001 dltrain
COPY --from=build /src/cli/target/dl-train.jar /opt/dl-train/dl-train.jar
USER dltrain
WORKDIR /home/dltrain
# JavaCPP extracts OpenBLAS into this cache on first use.
ENV JAVA_TOOL_OPTIONS="-Dorg.bytedeco.javacpp.cachedir=/home/dltrain/.javacpp"
ENTRYPOINT ["java", "--enable-native-access=ALL-UNNAMED", "-Xss4m", "-jar", "/opt/dl-train/dl-train.jar"]
CMD ["--help"]
