# Two commands for a fresh machine: `make run` (install everything, index docs/, start the chat UI)
# and `make test` (install everything, run the test suite).
VENV ?= .venv
RAG = $(VENV)/bin/rag

.PHONY: run test setup index serve bench

run: setup index serve

test:
	bash scripts/setup.sh --test
	$(VENV)/bin/python -m pytest

setup:
	bash scripts/setup.sh

index:
	$(RAG) ingest docs --prune

serve:
	$(RAG) serve

bench:
	$(RAG) bench
