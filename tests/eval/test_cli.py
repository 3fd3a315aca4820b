import argparse
import json

import pytest

from promptseg.cli.evaluate import add_evaluate_parser, main

from eval_fakes import make_label_dataset, make_mask_dataset


def test_cli_prints_table_and_writes_json_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    a, b = make_mask_dataset(tmp_path / "squares", n=2), make_label_dataset(tmp_path / "nuclei")
    out_json, out_png = tmp_path / "r.json", tmp_path / "c.png"
    code = main([str(a), str(b), "--backend", "random_walker", "--max-clicks", "3", "--limit", "2",
                 "--json", str(out_json), "--plot", str(out_png), "--no-progress"])
    assert code == 0
    table = capsys.readouterr().out
    assert "NoC@90" in table and "squares" in table and "nuclei" in table and "random_walker" in table
    data = json.loads(out_json.read_text())
    assert len(data["results"]) == 2 and data["settings"]["max_clicks"] == 3
    target = data["results"][1]["targets"][0]
    assert len(target["clicks"]) == len(target["ious"]) >= 1 and target["clicks"][0][2] == 1
    assert out_png.stat().st_size > 1000


def test_cli_reports_user_errors_without_traceback(tmp_path, capsys):
    assert main([str(tmp_path / "missing"), "--backend", "random_walker"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([str(make_mask_dataset(tmp_path / "d", n=1)), "--backend", "no_such_backend"]) == 2
    assert "unknown backend" in capsys.readouterr().err


def test_subcommand_registration():
    parser = argparse.ArgumentParser(prog="promptseg")
    add_evaluate_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", "x", "--backend", "grabcut", "--backend", "random_walker", "--no-feedback"])
    assert args.backend == ["grabcut", "random_walker"] and args.feedback is False and args.target_iou == 0.9
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "x", "--backend", "grabcut", "--target-iou", "1.5"])
