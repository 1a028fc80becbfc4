"""The command line: `python -m quant_organism run|ui` (main.py) and the job launches it makes (launch.py)."""
