"""The supervisor's ``/metrics``: every worker's own registry, read and combined.

Why not prometheus_client's multiprocess mode: the gateway's metrics are not only
``Counter``/``Gauge``/``Histogram`` objects but also collectors that read live tallies
at scrape time (``CountsCollector``, the ledger and member gauges set in the scrape),
and multiprocess mode sees only the former (it shares them through files), so half of
them would vanish; it also needs its directory set before the first import and wiped
between runs.  Instead each worker keeps its own registry, as a lone gateway does, and
the supervisor reads them all on its admin port:

* counters, histograms and summaries are summed over the workers, series by series.
  A worker's last values are kept when it dies and added in (``retire``): the totals
  never go down when a worker is replaced, so ``rate()`` sees no false reset (what it
  had counted after the last scrape before a SIGKILL is lost, as in any crash);
* gauges (connections open, queue depths, breaker states…) are not summable in general:
  each is given per worker with a ``worker`` label, and ``sum by`` does the rest;
* the ``_created`` series are dropped (a sum of creation times means nothing).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from prometheus_client.metrics_core import Metric

__all__ = ["WorkerMetrics", "render"]

SUMMED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
"""A sample's name and sorted labels."""


def _key(sample: Sample) -> SeriesKey:
    return sample.name, tuple(sorted(sample.labels.items()))


@dataclass
class _Family:
    name: str
    kind: str
    documentation: str
    samples: dict[SeriesKey, float] = field(default_factory=dict)


def parse(text: str) -> list[Metric]:
    """A worker's exposition, parsed (``ValueError`` for one that is not)."""
    return list(text_string_to_metric_families(text))


@dataclass
class WorkerMetrics:
    """Combines workers' expositions (see the module documentation)."""

    retired: dict[SeriesKey, float] = field(default_factory=lambda: defaultdict(float))
    """Summed series of workers gone: their last values."""
    _families: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Every summed family seen: its type and help (to render retired values alone)."""
    _family_of: dict[str, str] = field(default_factory=dict)

    def retire(self, last: Iterable[Metric]) -> None:
        """Keep a dead worker's last summed values in the totals."""
        for family in last:
            if family.type in SUMMED:
                self._families[family.name] = (family.type, family.documentation)
                for sample in family.samples:
                    if not sample.name.endswith("_created"):
                        self._family_of[sample.name] = family.name
                        self.retired[_key(sample)] += sample.value

    def combine(self, workers: Mapping[int, Iterable[Metric]]) -> list[Metric]:
        """One exposition out of the live workers' (by worker number) and the retired."""
        from prometheus_client.metrics_core import Metric

        families: dict[str, _Family] = {}
        for worker, metrics in sorted(workers.items()):
            for family in metrics:
                if family.name.endswith("_created"):
                    continue
                summed = family.type in SUMMED
                entry = families.setdefault(
                    family.name, _Family(family.name, family.type, family.documentation)
                )
                if summed:
                    self._families[family.name] = (family.type, family.documentation)
                for sample in family.samples:
                    if sample.name.endswith("_created"):
                        continue
                    if summed:
                        self._family_of[sample.name] = family.name
                        key = _key(sample)
                        entry.samples[key] = entry.samples.get(key, 0.0) + sample.value
                    else:
                        labels = {**sample.labels, "worker": str(worker)}
                        entry.samples[(sample.name, tuple(sorted(labels.items())))] = sample.value
        for key, value in self.retired.items():
            name = self._family_of.get(key[0])
            if name is None:
                continue
            kind, documentation = self._families[name]
            entry = families.setdefault(name, _Family(name, kind, documentation))
            entry.samples[key] = entry.samples.get(key, 0.0) + value
        out: list[Metric] = []
        for entry in families.values():
            if not entry.samples:
                continue
            metric = Metric(entry.name, entry.documentation, entry.kind)
            metric.samples = [
                Sample(name, dict(labels), value) for (name, labels), value in entry.samples.items()
            ]
            out.append(metric)
        return out


def render(metrics: Iterable[Metric]) -> bytes:
    """The Prometheus text of combined families."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.registry import Collector

    class _Fixed(Collector):
        def collect(self) -> Iterable[Metric]:
            return list(metrics)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())
    return generate_latest(registry)
