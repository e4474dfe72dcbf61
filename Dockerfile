# searchapp: the CLI and the background indexer, CPU build (torch's CPU wheels keep it small).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    SEARCHAPP_DATA_DIR=/data \
    HF_HOME=/data/huggingface

WORKDIR /app
COPY pyproject.toml README.md ./
COPY searchapp ./searchapp
COPY indexer ./indexer
COPY ui ./ui
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu ".[heif]"

ENTRYPOINT ["searchapp"]
CMD ["--help"]
