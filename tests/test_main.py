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


def test_help_with_either_flag_prints_the_usage_and_starts_nothing(capsys):
    for flag in ('-h', '--help'):
        assert main.main([flag]) == 0
        out = capsys.readouterr().out
        assert 'python3 main.py --demo' in out and 'key=value' not in out.split('\n')[0]
    assert main.main(['-h', 'epoch=2']) == 0 and 'one GPU' in capsys.readouterr().out


def test_a_retired_key_says_what_replaced_it(capsys):
    assert main.main(['bin_size=120']) == 2
    assert "key 'bin_size' is no longer used: the HM-Conformer input size is derived" in capsys.readouterr().err
