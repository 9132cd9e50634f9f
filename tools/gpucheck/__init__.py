"""The GPU check (tools/gpu_check.py): --prepare here, --run on the lent GPU machine, --dry-run here
with the emulator standing in for the GPU. One module per concern; cli.py is the entry point."""
