namespace BlockDaemon.Ctl.Cli;

/// <summary>blockctl --help.</summary>
internal static class HelpText
{
    public const string Text = """
        Usage: blockctl [--socket PATH] [--json] COMMAND [ARGUMENTS]

        A QMP client for blockd and qemu-storage-daemon.

          blockctl COMMAND [key=value ...]     run any QMP command; dotted keys build nested
                                               arguments (file.driver=file), key.0=... lists, and
                                               values take the type the daemon's schema gives them;
                                               key:=JSON passes a JSON value as written
          blockctl COMMAND '{JSON object}'     the same with the arguments as one JSON object
          blockctl shell                       interactive: history, Tab completion from the schema;
                                               reads commands from stdin when it is not a terminal
          blockctl events [NAME ...]           print events as they arrive, one per line
                          [--count N] [--timeout SECONDS]
          blockctl commit DEVICE [--top NODE] [--base NODE] [--wait] [--verbose] [--pivot|--keep-overlay]
          blockctl stream DEVICE [--base NODE] [--wait] [--verbose]
          blockctl mirror DEVICE TARGET [--sync full|top|none] [--file] [--wait] [--verbose] [--pivot|--finish]
          blockctl backup DEVICE TARGET [--sync MODE] [--incremental BITMAP] [--wait] [--verbose]
          blockctl wait JOB-ID [--verbose] [--pivot|--finish] [--dismiss]

        Job helpers also take --job-id ID (default: DEVICE), --speed BYTES, --timeout SECONDS,
        --abort-on-interrupt, and key=value words added to the QMP command. --verbose, --timeout,
        --pivot, --keep-overlay and --finish imply --wait. --timeout stops waiting and leaves the
        job running (exit status 4). Ctrl-C while waiting leaves the job running (exit status 130)
        unless --abort-on-interrupt is given, which cancels it first.

        Options:
          -s, --socket PATH   the QMP socket (default: $BLOCKCTL_SOCKET, else blockd's default,
                              $XDG_RUNTIME_DIR/blockd/qmp.sock or ./blockd.sock)
              --json          print replies and events as raw JSON messages
          -h, --help          this text; blockctl COMMAND --help shows a helper's usage
          -V, --version       blockctl's version

        Exit status: 0 success, 1 the daemon refused the command or the job failed, 2 bad usage,
        3 no connection, 4 --timeout elapsed (job left running), 130 interrupted.

        """;
}
