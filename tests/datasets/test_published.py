import pandas as pd

from hyperforget.datasets.published import PublishedDataset, discard_staged, publish_staged


def dataset(path) -> PublishedDataset:
    return PublishedDataset(
        dataset={"type": "pandas.CSVDataset", "save_args": {"index": False}},
        filepath=str(path / "results.csv"),
    )


def test_a_saved_table_is_read_as_current_only_once_published(tmp_path):
    (tmp_path / "results.csv").write_text("method\nlast\n")
    results = dataset(tmp_path)
    results.save(pd.DataFrame({"method": ["new"]}))
    assert results.load()["method"].tolist() == ["last"]
    assert publish_staged() == [tmp_path / "results.csv"]
    assert results.load()["method"].tolist() == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_a_run_that_fails_leaves_the_published_file_as_it_was(tmp_path):
    (tmp_path / "results.csv").write_text("method\nlast\n")
    dataset(tmp_path).save(pd.DataFrame({"method": ["new"]}))
    discard_staged()
    assert publish_staged() == []
    assert (tmp_path / "results.csv").read_text() == "method\nlast\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]
