using System.Runtime.InteropServices;
using BlockDaemon.Ctl.Cli;

// The first Ctrl-C (SIGINT) is handed to the command (a job helper then leaves the job running,
// or cancels it with --abort-on-interrupt); a second one ends blockctl the default way.
using var interrupt = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
{
    if (!interrupt.IsCancellationRequested)
    {
        context.Cancel = true;
        interrupt.Cancel();
    }
});
return await CtlApp.RunAsync(args, CtlConsole.FromSystem(), interrupt.Token, CancellationToken.None);
