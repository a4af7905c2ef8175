"""Linkage benchmark: synthetic agency files ingested one record at a time.

Pairwise quality: a pair of records is "linked" when both end up in one client.
"auto" treats every review outcome as not linked (the record starts a new client);
"after review" assumes a reviewer merges exactly the review pairs that are true.

    python -m bench.linkage --people 20000 --agencies 3 --seed 1 [--em]
"""

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from math import comb

from bench.synthetic import Dataset, generate
from caseops.matching.engine import (
    DEFAULT_PARAMS,
    DEFAULT_THRESHOLDS,
    LEVELS,
    Decision,
    Features,
    Linker,
    MUParameters,
    Thresholds,
    normalize_person,
    train,
)

KEY = b"bench-linkage-key-not-a-secret-0"


@dataclass(frozen=True)
class Quality:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    linked_pairs: int
    correct_pairs: int


def pairwise(assigned: Mapping[str, str], truth: Mapping[str, str]) -> Quality:
    """Precision and recall over record pairs placed together vs truly the same."""
    together = Counter(assigned.values())
    same = Counter(truth.values())
    both = Counter((assigned[r], truth[r]) for r in assigned)
    linked = sum(comb(n, 2) for n in together.values())
    true = sum(comb(n, 2) for n in same.values())
    correct = sum(comb(n, 2) for n in both.values())
    precision = correct / linked if linked else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(precision, recall, f1, true, linked, correct)


def estimate(dataset: Dataset, sample: int, seed: int) -> MUParameters:
    """m/u estimated without labels from a random sample of the records."""
    records = list(dataset.records())
    chosen = random.Random(seed).sample(records, min(sample, len(records)))
    started = time.perf_counter()
    params = train([normalize_person(r.person) for r in chosen], seed=seed)
    print(f"EM on {len(chosen)} records ({time.perf_counter() - started:.1f} s); weights:")
    for name, levels in LEVELS.items():
        weights = " ".join(f"{lvl} {params.weights[name][lvl]:+.1f}" for lvl in levels)
        print(f"  {name:10s} {weights}")
    return params


class _UnionFind:
    """Client ids merged by the (simulated) reviewers."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, client: str) -> str:
        root = client
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        return root

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def run(
    dataset: Dataset,
    params: MUParameters,
    thresholds: Thresholds,
    name_frequencies: bool,
    verbose: bool,
) -> int:
    linker = Linker(KEY, params, thresholds, name_frequencies=name_frequencies)
    truth = {r.record_id: r.person_id for r in dataset.records()}
    kind = {p.person_id: p.kind for p in dataset.people}
    assigned: dict[str, str] = {}
    reviews: list[tuple[str, str]] = []
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    for number, record in enumerate(dataset.records()):
        features: Features = normalize_person(record.person)
        result = linker.match(record.record_id, features)
        outcomes[result.decision] += 1
        if result.decision is Decision.LINK and result.client_id is not None:
            client = result.client_id
        else:
            client = f"C{number:07d}"
            if result.decision is Decision.REVIEW and result.client_id is not None:
                reviews.append((client, result.client_id))
        assigned[record.record_id] = client
        linker.add(record.record_id, client, features)
    elapsed = time.perf_counter() - started

    members: dict[str, list[str]] = {}
    for record_id, client in assigned.items():
        members.setdefault(client, []).append(truth[record_id])
    true_reviews = sum(_same_person(members[a], members[b]) for a, b in reviews)

    merged = _UnionFind()
    for a, b in reviews:
        if _same_person(members[a], members[b]):
            merged.union(a, b)
    auto = pairwise(assigned, truth)
    reviewed = pairwise({r: merged.find(c) for r, c in assigned.items()}, truth)

    print(f"records {len(assigned)}  people {len(dataset.people)}  "
          f"true pairs {auto.true_pairs}")
    print(f"decisions: link {outcomes[Decision.LINK]}  review {outcomes[Decision.REVIEW]}  "
          f"new {outcomes[Decision.NEW]}")
    print(f"review queue: {len(reviews)} ({true_reviews} same person, "
          f"{len(reviews) - true_reviews} different)")
    print(f"auto:         precision {auto.precision:.5f}  recall {auto.recall:.5f}  "
          f"F1 {auto.f1:.5f}  (linked pairs {auto.linked_pairs}, wrong "
          f"{auto.linked_pairs - auto.correct_pairs})")
    print(f"after review: precision {reviewed.precision:.5f}  recall {reviewed.recall:.5f}  "
          f"F1 {reviewed.f1:.5f}")
    print(f"throughput:   {len(assigned) / elapsed:.0f} records/s ({elapsed:.1f} s)")
    if verbose:
        explain(members, kind)
    return 0


def _same_person(a: Iterable[str], b: Iterable[str]) -> bool:
    return bool(set(a) & set(b))


def explain(members: Mapping[str, list[str]], kind: Mapping[str, str]) -> None:
    """Which kinds of people were wrongly merged, and how often people were split."""
    merged = Counter(
        "+".join(sorted(kind[p] for p in set(people)))
        for people in members.values()
        if len(set(people)) > 1
    )
    clients_per_person = Counter(p for people in members.values() for p in set(people))
    split = Counter(kind[p] for p, n in clients_per_person.items() if n > 1)
    print(f"wrongly merged clients by kind: {dict(merged)}")
    print(f"people split over clients by kind: {dict(split)}")


def describe(dataset: Dataset) -> None:
    """The error and population rates the generator actually applied."""
    applied = Counter(dataset.realised)
    total = applied.pop("records")
    print(f"generated {total} records of {len(dataset.people)} people")
    print("  records with: " + ", ".join(
        f"{label} {count / total:.1%}" for label, count in sorted(applied.items())))
    kinds = Counter(p.kind for p in dataset.people if p.kind != "plain")
    print("  people added as the relative of an earlier one: " + ", ".join(
        f"{kind} {count / len(dataset.people):.1%}" for kind, count in sorted(kinds.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--agencies", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--em", action="store_true", help="estimate m/u by EM first")
    parser.add_argument("--em-sample", type=int, default=20000, help="records for EM")
    parser.add_argument("--upper", type=float, default=DEFAULT_THRESHOLDS.upper)
    parser.add_argument("--lower", type=float, default=DEFAULT_THRESHOLDS.lower)
    parser.add_argument("--no-name-frequencies", action="store_true",
                        help="weigh every name alike instead of by its frequency")
    parser.add_argument("--verbose", action="store_true", help="break errors down by kind")
    args = parser.parse_args(argv)
    dataset = generate(args.people, args.agencies, args.seed)
    describe(dataset)
    params = estimate(dataset, args.em_sample, args.seed) if args.em else DEFAULT_PARAMS
    thresholds = Thresholds(args.upper, args.lower)
    return run(dataset, params, thresholds, not args.no_name_frequencies, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
