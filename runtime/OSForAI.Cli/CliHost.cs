namespace OSForAI.Cli;

/// <summary>
/// Everything the commands take from the outside world, so tests can run them in-process
/// with their own writers, environment, standard input and HTTP handler.
/// </summary>
internal sealed class CliHost
{
    public required TextWriter Out { get; init; }
    public required TextWriter Error { get; init; }
    /// <summary>Environment variable lookup; empty values count as unset.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;
    /// <summary>The user's home folder (for the default <c>~/.osforai</c>).</summary>
    public string UserHome { get; init; } = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
    /// <summary>Opens standard input (for <c>osai call NAME -</c>).</summary>
    public Func<Stream> OpenStandardInput { get; init; } = Console.OpenStandardInput;
    /// <summary>Opens standard output for bytes (for <c>osai data cat</c>); text goes through <see cref="Out"/>.</summary>
    public Func<Stream> OpenStandardOutput { get; init; } = Console.OpenStandardOutput;
    /// <summary>Whether the error writer is an interactive terminal (live progress only then).</summary>
    public bool ErrorIsTerminal { get; init; }
    /// <summary>Makes the HTTP handler for client commands; null uses the default one.</summary>
    public Func<HttpMessageHandler>? CreateHttpHandler { get; init; }
    /// <summary>Stops <c>osai serve</c> in addition to Ctrl+C/SIGTERM.</summary>
    public CancellationToken ShutdownToken { get; init; }
    /// <summary>Whether <c>osai serve</c> listens for Ctrl+C/SIGTERM (off in tests).</summary>
    public bool HandleSignals { get; init; }

    public string? Env(string name) => GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    /// <summary>The real process: console streams, process environment, signal handling.</summary>
    public static CliHost ForProcess(TextWriter stdout, TextWriter stderr) => new()
    {
        Out = stdout,
        Error = stderr,
        ErrorIsTerminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected,
        HandleSignals = true,
    };
}
