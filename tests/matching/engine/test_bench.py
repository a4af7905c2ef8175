from bench.linkage import main, pairwise
from caseops.demo.synthetic import generate


def test_generator_is_seeded_and_keeps_ground_truth():
    first, again, other = generate(400, 3, seed=5), generate(400, 3, seed=5), generate(400, 3, 6)
    assert [r.person for r in first.records()] == [r.person for r in again.records()]
    assert [r.person for r in first.records()] != [r.person for r in other.records()]
    people = {p.person_id for p in first.people}
    assert {r.person_id for r in first.records()} <= people
    assert set(first.files) == {"A1", "A2", "A3"}


def test_generator_error_rates_are_in_the_intended_ranges():
    dataset = generate(3000, 3, seed=2)
    total = dataset.realised["records"]
    share = {label: count / total for label, count in dataset.realised.items()}
    assert 0.10 <= share["typo"] <= 0.14
    assert 0.40 <= share["ssn missing"] <= 0.55
    assert 0.04 <= share["nickname"] <= 0.10
    assert 0.02 <= share["swapped names"] <= 0.04


def test_pairwise_quality():
    truth = {"a": "p1", "b": "p1", "c": "p1", "d": "p2"}
    quality = pairwise({"a": "c1", "b": "c1", "c": "c2", "d": "c1"}, truth)
    assert (quality.true_pairs, quality.linked_pairs, quality.correct_pairs) == (3, 3, 1)
    assert quality.precision == quality.recall == 1 / 3


def test_benchmark_runs_and_reports(capsys):
    assert main(["--people", "800", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "auto:" in out and "review queue:" in out and "records/s" in out
    precision = float(out.split("auto:")[1].split("precision")[1].split()[0])
    assert precision >= 0.99
