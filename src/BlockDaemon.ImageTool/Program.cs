using BlockDaemon.ImageTool;

return await ImageTool.RunAsync(args, Console.Out, Console.Error, CancellationToken.None).ConfigureAwait(false);
