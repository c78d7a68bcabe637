"""``sweep --executor ray --address``: jobs sent to a running cluster of two nodes (two Ray nodes on this machine,
one CPU each, as ``ray start --head`` and ``ray start --address`` would make them) give the records of
sequential runs. In its own module: the other Ray test keeps a Ray of its own started in the test process."""

import pytest
from test_sweep import GRID, TINY, metrics_by_record, run_cli
from test_sweep import data_root, sequential  # noqa: F401  (fixtures)


@pytest.fixture
def two_node_cluster():
    pytest.importorskip("ray", reason='install the ray extra: pip install -e ".[ray]"')
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@pytest.mark.slow
def test_a_sweep_joins_a_running_two_node_cluster_and_gives_the_records_of_sequential_runs(
        two_node_cluster, sequential, data_root, tmp_path, capsys):  # noqa: F811
    import ray

    res = tmp_path / "res"
    code, out = run_cli(capsys, "sweep", *GRID, "--executor", "ray", "--address", two_node_cluster.address,
                        "--results-dir", res, "--data-root", data_root, "--quiet", *TINY)
    assert code == 0, out
    assert "2 trained" in out and metrics_by_record(res) == sequential
    assert not ray.is_initialized()  # the sweep left the cluster it joined, and the cluster still runs
    assert len(two_node_cluster.list_all_nodes()) == 2
