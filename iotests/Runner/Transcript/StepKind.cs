namespace BlockDaemon.IoTests.Transcript;

/// <summary>What one line of a transcript asks the runner to do (see iotests/README.md).</summary>
public enum StepKind
{
    /// <summary><c>@daemon ARGS</c>: (re)start the daemon with extra arguments.</summary>
    Daemon,

    /// <summary><c>@daemon-fail ARGS</c>: run the daemon expecting it to exit by itself.</summary>
    DaemonFail,

    /// <summary><c>@stop</c>: SIGTERM the daemon and report its exit code.</summary>
    Stop,

    /// <summary><c>@wait-exit</c>: wait for the daemon to exit by itself and report its exit code.</summary>
    WaitExit,

    /// <summary><c>@client NAME [PATH]</c>: connect or switch the current QMP client.</summary>
    Client,

    /// <summary><c>@close</c>: hang up the current client.</summary>
    Close,

    /// <summary><c>&gt; {json}</c>: send a command, print everything up to its reply.</summary>
    Command,

    /// <summary><c>@save FILE {json}</c>: like a command, but the reply goes to a file instead.</summary>
    Save,

    /// <summary><c>@send TEXT</c>: send raw text, read nothing.</summary>
    Send,

    /// <summary><c>@recv</c>: read and print one message.</summary>
    Recv,

    /// <summary><c>@recv-raw</c>: read one line and print its exact bytes, line ending included.</summary>
    RecvRaw,

    /// <summary><c>@recv-eof</c>: expect the server to close the connection.</summary>
    RecvEof,

    /// <summary><c>@wait EVENT</c>: read and print messages up to an event with that name.</summary>
    Wait,

    /// <summary><c>$ command</c>: run a bash command.</summary>
    Shell,

    /// <summary><c>@require TOOL</c>: skip the test when TOOL is not on PATH.</summary>
    Require,
}
