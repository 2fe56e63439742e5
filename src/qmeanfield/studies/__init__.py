"""Every verb as a study (`.base`): `compare`, `certify`, `steady`, `semiclassical`.

`STUDIES` maps the names used by the CLI and by a `[sweep]` table's `study =` to the
study classes; `make_study` builds one with its options; `study_for` picks the study
a configuration mapping describes (a `[semiclassical]` table: semiclassical; else compare).
"""

from __future__ import annotations

from dataclasses import fields

from ..errors import ConfigError
from .base import Cache, Outputs, Study, StudyPlan, StudyResult, compute_only
from .certificate import CertifyStudy
from .comparison import CompareStudy, fingerprint
from .semiclassical import SemiclassicalStudy
from .steady import SteadyStudy

__all__ = ["STUDIES", "make_study", "study_for", "Study", "StudyPlan", "StudyResult", "Outputs", "Cache",
           "compute_only", "CompareStudy", "CertifyStudy", "SteadyStudy", "SemiclassicalStudy", "fingerprint"]

#: study name -> class
STUDIES: dict[str, type] = {"compare": CompareStudy, "certify": CertifyStudy, "steady": SteadyStudy,
                            "semiclassical": SemiclassicalStudy}

#: fields of a study that are not options
_FIXED = {"name", "outputs", "headline"}


def make_study(name: str, **options) -> Study:
    """The study `name` with its options (e.g. `make_study("certify", exact=False)`); an unknown
    name or option is refused with the accepted ones."""
    if not isinstance(name, str) or name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; choose one of {sorted(STUDIES)}")
    accepted = {f.name for f in fields(STUDIES[name])} - _FIXED
    unknown = set(options) - accepted
    if unknown:
        raise ConfigError(f"study {name!r} does not accept the option(s) {sorted(unknown)}; it accepts "
                          f"{sorted(accepted) or 'none'}")
    return STUDIES[name](**options)


def study_for(data: dict) -> Study:
    """The study a configuration mapping describes when none is named."""
    return SemiclassicalStudy() if isinstance(data, dict) and "semiclassical" in data else CompareStudy()
