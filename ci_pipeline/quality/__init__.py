"""Quality: expectation suites (checks/*.yaml) and their run through Great Expectations.

    suites.py       the suite model and loading: files, bases (`extends`), entries checked without GX
    derivations.py  checks GX cannot express on one frame, as derived "ok"/problem columns
    runner.py       run_suite(): a suite on a frame through GX (imported on first use), with results
"""
