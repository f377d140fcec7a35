"""ColumnarLocalComputeEngine: Feast's local materialization, handing the online store Arrow batches.

Feast's local compute engine reads a view's window from the offline store as an Arrow
table, then converts every cell into a ``ValueProto`` before its online store serializes
each one again (``LocalOutputNode``). That conversion cost as much as the write itself
(``bench/bench_feast.py``). This engine is Feast's, with one node changed: where the
online store can write an Arrow batch (``online_stores.SqliteOnlineStore`` and
``RedisOnlineStore`` offer ``online_write_arrow``), it hands it the batch and the store
encodes it a column at a time; any other store gets Feast's path. The profiles select it
with ``batch_engine.type``, as any Feast compute engine; ``FeatureStore.materialize`` is
still the entry point (registry intervals, the view's status while it loads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from feast.infra.common.materialization_job import MaterializationJobStatus
from feast.infra.compute_engines.local.arrow_table_value import ArrowTableValue
from feast.infra.compute_engines.local.compute import LocalComputeEngine, LocalComputeEngineConfig
from feast.infra.compute_engines.local.feature_builder import LocalFeatureBuilder
from feast.infra.compute_engines.local.job import LocalMaterializationJob
from feast.infra.compute_engines.local.nodes import LocalOutputNode

if TYPE_CHECKING:
    from feast.infra.common.materialization_job import MaterializationTask
    from feast.infra.compute_engines.dag.context import ExecutionContext
    from feast.infra.registry.base_registry import BaseRegistry


class ColumnarLocalComputeEngineConfig(LocalComputeEngineConfig):
    """Feast's local engine settings; the type names ``ColumnarLocalComputeEngine`` below."""

    type: Literal["integrity_risk.features.feast_engine.ColumnarLocalComputeEngine"] = (
        "integrity_risk.features.feast_engine.ColumnarLocalComputeEngine"  # type: ignore[assignment]
    )


class ColumnarOutputNode(LocalOutputNode):
    """Feast's output node; the online write goes to ``online_write_arrow`` where the store has it."""

    def execute(self, context: ExecutionContext) -> ArrowTableValue:
        write_arrow = getattr(context.online_store, "online_write_arrow", None)
        if write_arrow is None or not self.feature_view.online:
            return super().execute(context)
        table = self.get_single_table(context).data
        output = ArrowTableValue(data=table)
        context.node_outputs[self.name] = output
        if table.num_rows == 0:
            return output
        batch_size = context.repo_config.materialization_config.online_write_batch_size
        for batch in [table] if batch_size is None else table.to_batches(max_chunksize=batch_size):
            write_arrow(context.repo_config, self.feature_view, batch)
        if self.feature_view.offline:
            context.offline_store.offline_write_batch(
                config=context.repo_config, feature_view=self.feature_view, table=table, progress=lambda _: None
            )
        return output


class _ColumnarFeatureBuilder(LocalFeatureBuilder):
    def build_output_nodes(self, view, input_node):
        node = ColumnarOutputNode("output", self.dag_root.view, inputs=[input_node])  # type: ignore[arg-type]
        self.nodes.append(node)
        return node


class ColumnarLocalComputeEngine(LocalComputeEngine):
    """Feast's ``LocalComputeEngine`` whose materialization ends in ``ColumnarOutputNode``."""

    def _materialize_one(self, registry: BaseRegistry, task: MaterializationTask, **kwargs) -> LocalMaterializationJob:
        # As LocalComputeEngine._materialize_one, with the builder above.
        job_id = f"{task.feature_view.name}-{task.start_time}-{task.end_time}"
        context = self.get_execution_context(registry, task)
        try:
            _ColumnarFeatureBuilder(registry, task, backend=self._get_backend(context)).build().execute(context)
        except Exception as err:
            return LocalMaterializationJob(job_id=job_id, status=MaterializationJobStatus.ERROR, error=err)
        return LocalMaterializationJob(job_id=job_id, status=MaterializationJobStatus.SUCCEEDED)
