"""Test support code shared by the test modules (and reused by bench/): tiny models, run configs,
real and fake servers, scripted judges. Imported as `support.<module>`: pytest puts tests/ on
sys.path (tests/ has no __init__.py), and bench/ scripts put it there themselves."""
