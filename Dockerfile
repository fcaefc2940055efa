# One image for Dask workers and the GPU trainer.
# The base carries CUDA + cuDNN and the TensorFlow release pinned in pyproject.toml
# (tensorflow>=2.18,<2.22); TF_VERSION must stay inside that range (tests/test_dockerfile.py checks).
ARG TF_VERSION=2.21.0
FROM tensorflow/tensorflow:${TF_VERSION}-gpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /opt/geogan
COPY pyproject.toml README.md ./
COPY geogan ./geogan
COPY pipelines ./pipelines
# the [gpu] extra is tensorflow[and-cuda]: the base's TensorFlow already satisfies the pin,
# so this adds geogan and its scientific stack (GDAL comes inside the rasterio wheel);
# [cloud] adds the fsspec backends for s3:// gs:// az:// inputs.
# DL3013: the package installed is this project; its dependency ranges live in pyproject.toml.
# hadolint ignore=DL3013
RUN python -m pip install ".[gpu,cloud]" \
    && useradd --create-home --uid 1000 --shell /usr/sbin/nologin geogan \
    && mkdir -p /data && chown geogan:geogan /data

USER 1000:1000
WORKDIR /data
ENTRYPOINT ["geogan"]
CMD ["--help"]
