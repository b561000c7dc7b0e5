import main


def test_bad_configuration_stops_with_a_message(capsys):
    assert main.main(['epcoh=2']) == 2
    assert "unknown key 'epcoh'; did you mean epoch?" in capsys.readouterr().err


def test_missing_dataset_stops_before_any_process_starts(capsys, tmp_path):
    assert main.main([f'path_19LA={tmp_path}/nowhere', f'path_log={tmp_path}']) == 2
    err = capsys.readouterr().err
    assert f"dataset root '{tmp_path}/nowhere' (argument path_19LA)" in err and 'Expected layout' in err
    assert not (tmp_path / 'EBM').exists()


def test_test_mode_needs_a_readable_checkpoint(capsys, demo_corpus, tmp_path):
    paths = [f"{key}={value}" for key, value in demo_corpus.items()]
    assert main.main(paths + ['TEST=True', f'checkpoint={tmp_path}/none.pt', f'path_log={tmp_path}']) == 2
    assert f'checkpoint not found: {tmp_path}/none.pt' in capsys.readouterr().err


def test_unknown_option(capsys):
    assert main.main(['--bogus']) == 2
    assert 'unknown option --bogus' in capsys.readouterr().out
