"""Name frequencies of the indexed records, for frequency-based name weights."""

from collections import Counter
from collections.abc import Iterator

from caseops.matching.engine.normalize import Features
from caseops.matching.engine.scoring import DEFAULT_PARAMS, MUParameters


class NameFrequencies:
    """Share of records carrying each given name, family name and family-name part.

    Shares are blended with the average chance agreement ``u`` of the parameters as if
    ``prior_records`` records had been seen, so a small or young index does not make
    every name look rare.
    """

    def __init__(self, params: MUParameters = DEFAULT_PARAMS, prior_records: int = 1000) -> None:
        self._prior = prior_records
        self._defaults = {
            "given": params.u["given"]["exact"],
            "family": params.u["family"]["exact"],
            "family_part": params.u["family"]["part"],
        }
        self._counts: dict[str, Counter[str]] = {kind: Counter() for kind in self._defaults}
        self._totals: Counter[str] = Counter()

    @staticmethod
    def _values(features: Features) -> Iterator[tuple[str, str]]:
        if features.given and len(features.given) > 1:
            yield "given", features.given
        if features.family:
            yield "family", features.family
            for part in set(features.family_parts):
                yield "family_part", part

    def add(self, features: Features) -> None:
        self._update(features, 1)

    def remove(self, features: Features) -> None:
        self._update(features, -1)

    def _update(self, features: Features, step: int) -> None:
        kinds = set()
        for kind, value in self._values(features):
            self._counts[kind][value] += step
            kinds.add(kind)
        for kind in kinds:
            self._totals[kind] += step

    def __call__(self, kind: str, value: str) -> float | None:
        default = self._defaults.get(kind)
        if default is None:
            return None
        count = self._counts[kind][value]
        return (count + self._prior * default) / (self._totals[kind] + self._prior)
