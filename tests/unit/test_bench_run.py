"""`make bench`'s table (bench/run.py): a row judged against a peer with several configurations says which
one won and what each made."""

from __future__ import annotations

from bench.run import interval_text, rows_assessed


def assessment(**extra: object) -> dict[str, object]:
    return {"what": "target vs oidc-provider: token", "kind": "ratio", "goal": 1.0, "stretch": None,
            "unit": "req/s", "estimate": 1.05, "low": 1.01, "high": 1.09, "rounds": 5, "verdict": "pass",
            "ours_median": 2_068.0, "peer_median": 1_969.0, **extra}  # fmt: skip


def test_a_row_names_the_configuration_of_the_peer_that_won_and_each_ones_median() -> None:
    bench = {"setup": {"peer_configurations": {"peer1_token": "oidc-provider, 1 worker process",
                                               "peer2_token": "oidc-provider, 2 worker processes"}},
             "assessments": [assessment(peer="peer2_token", candidates={"peer1_token": 1_742.0,
                                                                        "peer2_token": 1_969.0})]}  # fmt: skip
    (row,) = rows_assessed(bench)
    assert row.what == ("target vs oidc-provider: token; peer at its best: oidc-provider, 2 worker processes "
                        "(1,969 req/s; oidc-provider, 1 worker process: 1,742)")  # fmt: skip
    assert (row.ours, row.peer, row.ratio, row.verdict) == (2_068.0, 1_969.0, 1.05, "pass")


def test_a_row_with_one_peer_and_a_json_from_before_the_candidates_render_as_they_did() -> None:
    (single,) = rows_assessed({"assessments": [assessment(peer="peer_token", candidates={})]})
    (old,) = rows_assessed({"assessments": [assessment()]})
    assert single.what == old.what == "target vs oidc-provider: token"


def test_an_interval_is_rounded_outwards_so_that_it_reads_as_its_verdict() -> None:
    # 0.9955 is below a goal of 1.0 (inconclusive): rounded to nearest it would read [1.00, 1.08]
    assert interval_text(0.9955, 1.0772) == "[0.99, 1.08]"
    assert interval_text(1.0, 1.07) == "[1.00, 1.07]"
    assert interval_text(0.57, 0.58) == "[0.57, 0.58]"  # 0.57 * 100 is 56.99999999999999 in floats
    assert interval_text(-1.434, -0.841) == "[-1.44, -0.84]"
    assert interval_text(None, None) == "-"
