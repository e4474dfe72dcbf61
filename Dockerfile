# searchapp: CLI, background indexer, HTTP API and UI in one image; multi-stage, runs as a
# non-root user. CPU build by default (torch's CPU wheels keep it small); the GPU build
# (docker-compose.gpu.yml) passes TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124 and
# EXTRAS=heif,gpu, which swaps faiss-cpu for faiss-gpu.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG EXTRAS=heif
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/searchapp
ENV PATH=/opt/searchapp/bin:$PATH
# torch first, from the chosen index, so that nothing pulls another build of it later.
RUN pip install --index-url "${TORCH_INDEX_URL}" torch
WORKDIR /src
COPY pyproject.toml README.md ./
COPY searchapp ./searchapp
COPY indexer ./indexer
COPY ui ./ui
RUN pip install --extra-index-url "${TORCH_INDEX_URL}" ".[${EXTRAS}]" \
    && if pip show faiss-gpu-cu12 >/dev/null 2>&1; then \
         pip uninstall -y faiss-cpu && pip install --force-reinstall --no-deps faiss-gpu-cu12; \
       fi

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/searchapp/bin:$PATH \
    SEARCHAPP_DATA_DIR=/data \
    SEARCHAPP_CACHE_DIR=/data/cache \
    HF_HOME=/data/huggingface
RUN useradd --create-home --uid 10001 --user-group searchapp \
    && mkdir -p /data /photos && chown searchapp:searchapp /data
COPY --from=build /opt/searchapp /opt/searchapp
USER searchapp
WORKDIR /home/searchapp
VOLUME ["/data"]
EXPOSE 8501 8765
ENTRYPOINT ["searchapp"]
CMD ["--help"]
