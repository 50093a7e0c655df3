"""The analysis as it was before it went out of core (harness/analysis of main at the merge of issue 17 into
issue 20), kept verbatim apart from its imports: every record of a run in pandas, metrics over frames. It is
the reference the out-of-core analysis is proven against (tests/integration/report/test_out_of_core.py),
not code to use."""
