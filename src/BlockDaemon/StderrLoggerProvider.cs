using Microsoft.Extensions.Logging;

namespace BlockDaemon;

/// <summary>
/// The daemon's only logger provider: log lines on stderr, written synchronously. blockd logs
/// warnings and errors only by default (BLOCKD_LOG_LEVEL changes that), so a queue and a writer
/// thread as in the console provider would cost start-up time and memory for nothing. Under
/// systemd, stderr goes to the journal.
/// </summary>
internal sealed class StderrLoggerProvider(LogLevel minimumLevel) : ILoggerProvider
{
    private readonly Lock _writeLock = new();

    /// <summary>The level from BLOCKD_LOG_LEVEL (a LogLevel name), Warning if unset or unknown.</summary>
    public static LogLevel LevelFromEnvironment() =>
        Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("BLOCKD_LOG_LEVEL"), ignoreCase: true, out var level)
            ? level : LogLevel.Warning;

    public ILogger CreateLogger(string categoryName) => new StderrLogger(this, categoryName);

    public void Dispose()
    {
    }

    private static string LevelTag(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };

    private sealed class StderrLogger(StderrLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && logLevel >= provider.MinimumLevel;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            string text = $"blockd: {LevelTag(logLevel)}: {category}: {formatter(state, exception)}";
            if (exception is not null)
            {
                text += Environment.NewLine + exception;
            }
            lock (provider._writeLock)
            {
                Console.Error.WriteLine(text);
            }
        }
    }

    private LogLevel MinimumLevel => minimumLevel;
}
