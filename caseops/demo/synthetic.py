"""Seeded synthetic people and agency files with the errors of real administrative data.

Reusable by any benchmark that needs identifiable-looking (but invented) clients with
ground truth: ``generate(people, agencies, seed)`` returns every agency's records in
the API's ``person`` shape, each tagged with the true person id.

The population contains the hard cases for linkage on purpose: twins (same family
name, birth date, address and phone), namesakes (same common name and birth year),
fathers and sons with the same name at one address, households sharing address and
phone, and compound Hispanic family names. Records carry typos, nicknames, swapped
names, dropped name parts, moves, transposed dates and missing fields at the rates in
``Rates``; ``Dataset.realised`` counts what was actually applied.
"""

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from string import ascii_lowercase
from typing import Any


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FEMALE = _words(
    "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen nancy lisa "
    "betty margaret sandra ashley kimberly emily donna michelle dorothy carol amanda "
    "melissa deborah stephanie rebecca sharon laura cynthia kathleen amy shirley angela "
    "helen anna brenda pamela nicole emma samantha katherine christine debra rachel "
    "catherine carolyn janet ruth heather diane virginia julie joyce victoria olivia "
    "kelly christina lauren joan evelyn judith megan cheryl andrea hannah jacqueline "
    "frances gloria ann kathryn sara janice jean alice madison doris abigail julia judy "
    "grace denise amber marilyn beverly danielle theresa sophia marie diana brittany "
    "natalie isabella charlotte rose alexis kayla thi linh mai lan hoa"
)
_FEMALE_HISPANIC = _words(
    "maria guadalupe rosa ana juana veronica leticia elizabeth patricia margarita "
    "yolanda alejandra gabriela adriana martha silvia teresa laura araceli claudia "
    "isabel carmen lucia sofia daniela valeria fernanda mariana ximena dolores "
    "concepcion graciela rosario josefina esperanza norma blanca francisca"
)
_MALE = _words(
    "james robert john michael david william richard joseph thomas charles christopher "
    "daniel matthew anthony mark donald steven paul andrew joshua kenneth kevin brian "
    "george timothy ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan "
    "stephen larry justin scott brandon benjamin samuel gregory alexander frank patrick "
    "raymond jack dennis jerry tyler aaron adam nathan henry douglas zachary peter kyle "
    "ethan walter noah jeremy christian keith roger terry gerald harold sean austin carl "
    "arthur lawrence dylan jesse jordan bryan joe bruce gabriel logan albert alan wayne "
    "elijah randy roy vincent ralph eugene russell mason philip louis minh duc tuan"
)
_MALE_HISPANIC = _words(
    "jose juan luis carlos jesus antonio miguel francisco alejandro manuel pedro jorge "
    "ricardo roberto fernando javier eduardo rafael daniel david sergio raul arturo "
    "enrique alberto oscar mario victor hector guillermo ignacio ramon salvador"
)
_FAMILY = _words(
    "smith johnson williams brown jones miller davis wilson anderson taylor thomas moore "
    "jackson martin lee thompson white harris clark lewis robinson walker young allen "
    "king wright scott green baker adams nelson hill campbell mitchell roberts carter "
    "phillips evans turner parker collins edwards stewart morris murphy cook rogers "
    "morgan cooper peterson bailey reed kelly howard cox ward richardson watson brooks "
    "wood james bennett gray hughes price sanders myers long ross foster nguyen tran le "
    "pham huynh kim park chen wang li patel shah washington obrien mcdonald oconnor "
    "schmidt mueller novak kowalski ivanov hansen larsen okafor mensah"
)
_FAMILY_HISPANIC = (
    *_words(
        "garcia rodriguez martinez hernandez lopez gonzalez perez sanchez ramirez torres "
        "flores rivera gomez diaz reyes morales cruz ortiz gutierrez chavez ramos ruiz "
        "alvarez mendoza castillo jimenez moreno romero herrera medina aguilar vargas "
        "castro guzman fernandez juarez mendez salazar soto delgado pena rios vasquez "
        "contreras sandoval guerrero estrada dominguez"
    ),
    "de la cruz",
    "del rio",
    "de leon",
)
_ACCENTED = {
    "maria": "María",
    "jose": "José",
    "lucia": "Lucía",
    "sofia": "Sofía",
    "raul": "Raúl",
    "hector": "Héctor",
    "ramon": "Ramón",
    "jesus": "Jesús",
    "ramirez": "Ramírez",
    "hernandez": "Hernández",
    "perez": "Pérez",
    "gonzalez": "González",
    "lopez": "López",
    "martinez": "Martínez",
    "rodriguez": "Rodríguez",
    "sanchez": "Sánchez",
    "gomez": "Gómez",
    "diaz": "Díaz",
    "jimenez": "Jiménez",
    "pena": "Peña",
    "fernandez": "Fernández",
    "dominguez": "Domínguez",
    "concepcion": "Concepción",
}
# The generator's own nickname list, deliberately not the engine's table: a few of
# these (tere, gaby, dani, mari, lety, ale) are unknown to the matcher, as in real life.
_NICKNAMES = {
    "william": ("bill", "will", "billy"),
    "robert": ("bob", "rob", "bobby"),
    "james": ("jim", "jimmy"),
    "john": ("jack", "johnny"),
    "joseph": ("joe",),
    "richard": ("rick", "rich"),
    "thomas": ("tom", "tommy"),
    "michael": ("mike",),
    "christopher": ("chris",),
    "daniel": ("dan", "danny"),
    "anthony": ("tony",),
    "edward": ("ed", "eddie", "ted"),
    "steven": ("steve",),
    "kenneth": ("ken",),
    "timothy": ("tim",),
    "benjamin": ("ben",),
    "samuel": ("sam",),
    "alexander": ("alex",),
    "nicholas": ("nick",),
    "gregory": ("greg",),
    "patrick": ("pat",),
    "lawrence": ("larry",),
    "gerald": ("jerry",),
    "ronald": ("ron",),
    "donald": ("don",),
    "douglas": ("doug",),
    "jeffrey": ("jeff",),
    "raymond": ("ray",),
    "walter": ("walt",),
    "andrew": ("andy",),
    "matthew": ("matt",),
    "joshua": ("josh",),
    "jonathan": ("jon",),
    "henry": ("hank",),
    "peter": ("pete",),
    "zachary": ("zach",),
    "jose": ("pepe",),
    "francisco": ("paco", "pancho"),
    "jesus": ("chuy",),
    "eduardo": ("lalo",),
    "guillermo": ("memo",),
    "ignacio": ("nacho",),
    "alberto": ("beto",),
    "roberto": ("beto",),
    "manuel": ("manny",),
    "enrique": ("kike",),
    "margaret": ("peggy", "maggie"),
    "elizabeth": ("liz", "beth", "betty"),
    "patricia": ("patty", "trish"),
    "jennifer": ("jen", "jenny"),
    "katherine": ("kate", "kathy"),
    "catherine": ("cathy",),
    "susan": ("sue",),
    "deborah": ("debbie",),
    "rebecca": ("becky",),
    "jessica": ("jess",),
    "kimberly": ("kim",),
    "samantha": ("sam",),
    "victoria": ("vicky",),
    "christina": ("tina",),
    "pamela": ("pam",),
    "sandra": ("sandy",),
    "abigail": ("abby",),
    "dorothy": ("dottie",),
    "judith": ("judy",),
    "theresa": ("terry",),
    "jacqueline": ("jackie",),
    "guadalupe": ("lupe",),
    "dolores": ("lola",),
    "concepcion": ("concha",),
    "graciela": ("chela",),
    "amanda": ("mandy",),
    "teresa": ("tere",),
    "gabriela": ("gaby",),
    "daniela": ("dani",),
    "mariana": ("mari",),
    "leticia": ("lety",),
    "alejandra": ("ale",),
}
_STREETS = (
    *_words(
        "main oak pine maple cedar elm washington lake hill park view sunset lincoln "
        "jackson franklin church mill river spring highland center forest meadow madison "
        "adams jefferson chestnut walnut willow ridge valley market broadway union grove "
        "fairview mission alameda estrella fruitvale international macarthur foothill "
        "telegraph shattuck college ashby"
    ),
    "las flores",
    "del mar",
    "santa clara",
    "san pablo",
)
_COMMON = frozenset(
    name
    for names in (_FEMALE, _FEMALE_HISPANIC, _MALE, _MALE_HISPANIC, _FAMILY, _FAMILY_HISPANIC)
    for name in names[:15]
)
_SYLLABLES = _words(
    "ka lo ren mi sa to vel dan ber gu shi na ro ley ton son man ski ez ova al bri cor "
    "del fa gar hol is jen kor lin mar nor ok pel quin ras sel tor ul van wes yan zim"
)
_STREET_TYPES = (
    ("Street", "St", "St.", "ST"),
    ("Avenue", "Ave", "Ave."),
    ("Road", "Rd"),
    ("Drive", "Dr"),
    ("Boulevard", "Blvd"),
    ("Lane", "Ln"),
    ("Court", "Ct"),
)
_CITIES = ("Oakland", "Berkeley", "Alameda", "Emeryville", "San Leandro", "Hayward")
_AREA_CODES = ("510", "341", "925")
_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com")


@dataclass(frozen=True)
class Rates:
    """Error and population rates. Record rates apply per agency record."""

    typo: float = 0.12  # records with at least one typo
    second_typo: float = 0.10  # of those, records with a second one
    ssn_missing: tuple[float, ...] = (0.35, 0.50, 0.60)  # per agency, cycled
    phone_missing: float = 0.35
    email_missing: float = 0.50
    nickname: float = 0.16  # of records whose given name has a nickname
    swapped: float = 0.03
    initial_only: float = 0.005
    part_dropped: float = 0.35  # of compound family names
    married_name: float = 0.01  # adult women recorded under another family name
    moved: float = 0.20
    dob_transposed: float = 0.02  # of dates where day and month can swap
    dob_missing: float = 0.01  # only when the record carries an SSN
    sex_missing: float = 0.05
    sex_wrong: float = 0.003
    middle_recorded: float = 0.40
    duplicate: float = 0.02  # second record of the same person in one agency
    coverage: tuple[float, ...] = (0.60, 0.50, 0.45)  # share of people per agency
    hispanic: float = 0.40
    rare_given: float = 0.25  # given names outside the listed common ones
    rare_family: float = 0.50  # family names outside the listed common ones
    compound: float = 0.30  # of Hispanic people
    twins: float = 0.01  # share of people who are a twin
    namesakes: float = 0.02  # people sharing given, family name and birth year
    juniors: float = 0.005  # fathers and sons with one name at one address
    households: float = 0.15  # people joining an earlier person's household


@dataclass(frozen=True)
class Address:
    street_number: str
    street: str
    street_type: int
    city: str
    postcode: str


@dataclass(frozen=True)
class Person:
    person_id: str
    given: str
    middle: str | None
    family: tuple[str, ...]
    sex: str
    birth_date: date
    ssn: str
    address: Address
    phone: str | None
    email: str | None
    kind: str = "plain"  # or how it relates to an earlier person: twin, namesake, junior...


@dataclass(frozen=True)
class SourceRecord:
    agency: str
    record_id: str
    person_id: str
    person: dict[str, Any]


@dataclass
class Dataset:
    people: list[Person]
    files: dict[str, list[SourceRecord]]
    realised: Counter[str] = field(default_factory=Counter)

    def records(self) -> Iterator[SourceRecord]:
        """Agency files one after another, as they would be ingested."""
        for records in self.files.values():
            yield from records


def _zipf(rng: random.Random, pool: Sequence[str], exponent: float = 1.0) -> str:
    weights = [1 / (rank + 1) ** exponent for rank in range(len(pool))]
    return rng.choices(pool, weights)[0]


class _Generator:
    def __init__(self, rates: Rates, seed: int) -> None:
        self.rates = rates
        self.rng = random.Random(seed)
        self.postcodes = [f"946{n:02d}" for n in range(1, 41)] + [
            f"945{n:02d}" for n in range(1, 41)
        ]
        self.postcode_weights = [1 / (i + 1) ** 0.5 for i in range(len(self.postcodes))]
        self.ssns: set[str] = set()
        self.emails: set[str] = set()
        self.realised: Counter[str] = Counter()

    # -- people -------------------------------------------------------------
    def ssn(self) -> str:
        while True:
            area = self.rng.randint(1, 899)
            if area == 666:
                continue
            value = f"{area:03d}{self.rng.randint(1, 99):02d}{self.rng.randint(1, 9999):04d}"
            if value not in self.ssns:
                self.ssns.add(value)
                return value

    def address(self, postcode: str | None = None) -> Address:
        rng = self.rng
        return Address(
            street_number=str(rng.randint(1, 9999)),
            street=_zipf(rng, _STREETS, 0.5),
            street_type=rng.randrange(len(_STREET_TYPES)),
            city=rng.choice(_CITIES),
            postcode=postcode or rng.choices(self.postcodes, self.postcode_weights)[0],
        )

    def phone(self) -> str:
        return f"{self.rng.choice(_AREA_CODES)}{self.rng.randint(2000000, 9999999)}"

    def rare_name(self) -> str:
        """A name from the long tail: the listed names cover only part of a population."""
        return "".join(self.rng.choices(_SYLLABLES, k=self.rng.choice((2, 2, 3))))

    def given(self, sex: str, hispanic: bool) -> str:
        if self.rng.random() < self.rates.rare_given:
            return self.rare_name()
        if sex == "f":
            return _zipf(self.rng, _FEMALE_HISPANIC if hispanic else _FEMALE)
        return _zipf(self.rng, _MALE_HISPANIC if hispanic else _MALE)

    def family(self, hispanic: bool) -> str:
        if self.rng.random() < self.rates.rare_family:
            return self.rare_name()
        return _zipf(self.rng, _FAMILY_HISPANIC) if hispanic else _zipf(self.rng, _FAMILY, 0.7)

    def birth_date(self) -> date:
        return date(1935, 1, 1) + timedelta(days=self.rng.randrange(365 * 89))

    def email(self, given: str, family: tuple[str, ...]) -> str | None:
        if self.rng.random() < 0.5:
            return None
        handle = f"{given}.{family[0]}".replace(" ", "")
        while True:
            email = f"{handle}{self.rng.randint(1, 999)}@{self.rng.choice(_MAIL_DOMAINS)}"
            if email not in self.emails:
                self.emails.add(email)
                return email

    def person(self, number: int) -> Person:
        rng, rates = self.rng, self.rates
        sex = rng.choice("fm")
        hispanic = rng.random() < rates.hispanic
        given = self.given(sex, hispanic)
        if hispanic:
            family: tuple[str, ...] = (self.family(hispanic),)
            if rng.random() < rates.compound:
                family += (self.family(hispanic),)
        else:
            family = (self.family(hispanic),)
        return Person(
            person_id=f"P{number:07d}",
            given=given,
            middle=self.given(sex, hispanic) if rng.random() < 0.6 else None,
            family=family,
            sex=sex,
            birth_date=self.birth_date(),
            ssn=self.ssn(),
            address=self.address(),
            phone=self.phone() if rng.random() < 0.85 else None,
            email=self.email(given, family),
        )

    def twin(self, base: Person, of: Person) -> Person:
        given = base.given
        if self.rng.random() < 0.3:  # alliterative twin names
            pool = (*_FEMALE, *_FEMALE_HISPANIC) if base.sex == "f" else (*_MALE, *_MALE_HISPANIC)
            same_letter = [g for g in pool if g[0] == of.given[0] and g != of.given]
            given = self.rng.choice(same_letter or [given])
        while given == of.given:
            given = self.given(base.sex, hispanic=False)
        return replace(
            base,
            given=given,
            family=of.family,
            birth_date=of.birth_date,
            address=of.address,
            phone=of.phone,
            kind="twin",
        )

    def namesake(self, base: Person, of: Person) -> Person:
        """Same name, sex and birth year; half of them in the same postcode."""
        birth = of.birth_date
        while birth == of.birth_date:
            birth = date(of.birth_date.year, 1, 1) + timedelta(days=self.rng.randrange(365))
        postcode = of.address.postcode if self.rng.random() < 0.5 else None
        return replace(
            base,
            given=of.given,
            family=of.family,
            sex=of.sex,
            birth_date=birth,
            address=self.address(postcode),
            kind="namesake",
        )

    def junior(self, base: Person, of: Person) -> Person:
        """A child named after the parent (or the parent of a junior), living with them."""
        gap = timedelta(days=self.rng.randint(18 * 365, 40 * 365))
        birth = of.birth_date + gap
        if birth > date(2024, 12, 31):
            birth = of.birth_date - gap
        return replace(
            base,
            given=of.given,
            family=of.family,
            sex=of.sex,
            birth_date=birth,
            address=of.address,
            phone=of.phone,
            kind="junior",
        )

    def household(self, base: Person, of: Person) -> Person:
        family = of.family if self.rng.random() < 0.7 else base.family
        return replace(
            base,
            family=family,
            address=of.address,
            phone=of.phone,
            email=self.email(base.given, family),
            kind="household",
        )

    def people(self, count: int) -> list[Person]:
        """People, some of them related to an earlier one; namesakes share one of the
        most common names, as real namesakes mostly do."""
        rates = self.rates
        relations = (
            (rates.twins / 2, self.twin),
            (rates.namesakes / 2, self.namesake),
            (rates.juniors, self.junior),
            (rates.households, self.household),
        )
        people: list[Person] = []
        common: list[Person] = []
        for number in range(count):
            person = self.person(number)
            roll = self.rng.random()
            for rate, relate in relations:
                if roll < rate:
                    pool = common if relate == self.namesake else people
                    if pool:
                        person = relate(person, self.rng.choice(pool))
                    break
                roll -= rate
            people.append(person)
            if person.given in _COMMON and all(part in _COMMON for part in person.family):
                common.append(person)
        return people

    # -- errors -------------------------------------------------------------
    def typo(self, text: str) -> str:
        rng = self.rng
        if len(text) < 2:
            return text
        i = rng.randrange(len(text))
        kind = rng.choice(("insert", "delete", "substitute", "transpose"))
        if kind == "insert":
            return text[:i] + rng.choice(ascii_lowercase) + text[i:]
        if kind == "delete":
            return text[:i] + text[i + 1 :]
        if kind == "substitute":
            return text[:i] + rng.choice(ascii_lowercase) + text[i + 1 :]
        i = min(i, len(text) - 2)
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]

    def digit_typo(self, digits: str) -> str:
        rng = self.rng
        i = rng.randrange(len(digits) - 1)
        if rng.random() < 0.5:
            return digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
        return digits[:i] + rng.choice("0123456789") + digits[i + 1 :]

    def date_typo(self, value: date) -> date:
        """A keystroke error in the digits of the date that still gives a valid date."""
        for _ in range(20):
            digits = self.digit_typo(value.strftime("%Y%m%d"))
            try:
                changed = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
            except ValueError:
                continue
            if changed != value and 1901 <= changed.year <= 2024:
                return changed
        return value

    def chance(self, rate: float, label: str) -> bool:
        hit = self.rng.random() < rate
        if hit:
            self.realised[label] += 1
        return hit

    # -- records --------------------------------------------------------------
    def record(self, person: Person, agency: int) -> dict[str, Any]:
        rng, rates = self.rng, self.rates
        self.realised["records"] += 1
        given = person.given
        nicknames = _NICKNAMES.get(given)
        if nicknames and self.chance(rates.nickname, "nickname"):
            given = rng.choice(nicknames)
        family = list(person.family)
        if len(family) > 1 and self.chance(rates.part_dropped, "compound part dropped"):
            family = [family[0] if rng.random() < 0.8 else family[1]]
        if (
            person.sex == "f"
            and person.birth_date.year < 2000
            and self.chance(rates.married_name, "married name")
        ):
            family = [self.family(hispanic=False)]
        middle = person.middle if rng.random() < rates.middle_recorded else None
        if middle and rng.random() < 0.4:
            middle = middle[0]
        birth: date | None = person.birth_date
        ssn: str | None = person.ssn
        if self.chance(rates.ssn_missing[agency % len(rates.ssn_missing)], "ssn missing"):
            ssn = None
        elif self.chance(rates.dob_missing, "birth date missing"):
            birth = None
        if (
            birth
            and birth.day <= 12
            and birth.day != birth.month
            and self.chance(rates.dob_transposed, "day/month transposed")
        ):
            birth = birth.replace(month=birth.day, day=birth.month)
        address, phone = person.address, person.phone
        if self.chance(rates.moved, "moved"):
            same_postcode = rng.random() < 0.3
            address = self.address(address.postcode if same_postcode else None)
            if rng.random() < 0.5:
                phone = self.phone()
        if self.chance(rates.phone_missing, "phone missing"):
            phone = None
        email = person.email
        if email and self.chance(rates.email_missing, "email missing"):
            email = None
        street = f"{address.street} {rng.choice(_STREET_TYPES[address.street_type])}"
        number = address.street_number
        if self.chance(rates.typo, "typo"):
            for _ in range(2 if self.chance(rates.second_typo, "two typos") else 1):
                target = rng.choices(
                    ("given", "family", "birth_date", "street", "ssn", "phone"),
                    (30, 30, 10, 10, 10, 10),
                )[0]
                self.realised[f"typo in {target}"] += 1
                if target == "given":
                    given = self.typo(given)
                elif target == "family":
                    i = rng.randrange(len(family))
                    family[i] = self.typo(family[i])
                elif target == "birth_date" and birth:
                    birth = self.date_typo(birth)
                elif target == "street":
                    street = self.typo(street)
                elif target == "ssn" and ssn:
                    ssn = self.digit_typo(ssn)
                elif target == "phone" and phone:
                    phone = self.digit_typo(phone)
        if self.chance(rates.initial_only, "given initial only"):
            given = given[0]
        given_text = self.styled(given, agency) + ("." if len(given) == 1 else "")
        family_text = self.styled_family(family, agency)
        if self.chance(rates.swapped, "swapped names"):
            given_text, family_text = family_text, given_text
        sex: str | None = person.sex
        if self.chance(rates.sex_missing, "sex missing"):
            sex = None
        elif self.chance(rates.sex_wrong, "sex wrong"):
            sex = "m" if person.sex == "f" else "f"
        return {
            "given_name": given_text,
            "middle_name": self.styled(middle, agency) if middle else None,
            "family_name": family_text,
            "birth_date": birth,
            "ssn": self.format_ssn(ssn, agency) if ssn else None,
            "sex": self.format_sex(sex, agency) if sex else None,
            "address": {
                "street_number": number,
                "street": self.styled(street, agency),
                "city": address.city,
                "postcode": address.postcode,
                "state": "CA",
            },
            "phone": self.format_phone(phone, agency) if phone else None,
            "email": email.upper() if email and agency % 3 == 0 else email,
        }

    def styled(self, text: str, agency: int) -> str:
        """Agency conventions: upper case, title case, accents where the agency keeps them."""
        words = [
            _ACCENTED.get(w, w) if agency % 3 == 1 and self.rng.random() < 0.6 else w
            for w in text.split()
        ]
        text = " ".join(words)
        return text.upper() if agency % 3 == 0 else text.title()

    def styled_family(self, parts: list[str], agency: int) -> str:
        separator = "-" if len(parts) > 1 and self.rng.random() < 0.6 else " "
        return self.styled(separator.join(parts), agency).replace("- ", "-")

    def format_ssn(self, ssn: str, agency: int) -> str:
        return f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}" if agency % 2 == 0 else ssn

    def format_sex(self, sex: str, agency: int) -> str:
        return {0: sex.upper(), 1: {"f": "female", "m": "male"}[sex], 2: sex}[agency % 3]

    def format_phone(self, phone: str, agency: int) -> str:
        if agency % 3 == 0:
            return f"({phone[:3]}) {phone[3:6]}-{phone[6:]}"
        return f"+1{phone}" if agency % 3 == 1 else f"{phone[:3]}-{phone[3:6]}-{phone[6:]}"


def generate(people: int, agencies: int = 3, seed: int = 0, rates: Rates | None = None) -> Dataset:
    """``people`` true people and ``agencies`` files with partial overlap."""
    rates = rates or Rates()
    generator = _Generator(rates, seed)
    population = generator.people(people)
    files: dict[str, list[SourceRecord]] = {}
    for agency in range(agencies):
        code = f"A{agency + 1}"
        coverage = rates.coverage[agency % len(rates.coverage)]
        members = [p for p in population if generator.rng.random() < coverage]
        members += [p for p in members if generator.chance(rates.duplicate, "duplicate")]
        generator.rng.shuffle(members)
        files[code] = [
            SourceRecord(code, f"{code}-{n:07d}", p.person_id, generator.record(p, agency))
            for n, p in enumerate(members)
        ]
    return Dataset(population, files, generator.realised)
