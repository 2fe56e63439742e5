"""Reports: one module per report, each reading only a Dataset (and its summary).

* `write_report` (`.comparison`): `report.html` of a comparison.
* `write_certificate_report` (`.certificate`): `certificate.html`.
* `write_steady_report` (`.steady`): `steady.html`.
* `write_semiclassical_report` (`.semiclassical`): `semiclassical.html`.
"""

from .certificate import CERTIFICATE_PLOTS, write_certificate_report
from .comparison import PLOTS, make_plots, write_report
from .semiclassical import SEMICLASSICAL_PLOTS, write_semiclassical_report
from .steady import STEADY_PLOTS, write_steady_report

__all__ = ["write_report", "make_plots", "PLOTS", "write_certificate_report", "write_steady_report",
           "write_semiclassical_report", "SEMICLASSICAL_PLOTS", "CERTIFICATE_PLOTS", "STEADY_PLOTS"]
