namespace OSForAI.Cli;

/// <summary>A mistake on the command line: reported with the command's usage, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>A failure to report as <c>error: message</c> (plus optional details) with an exit code.</summary>
internal sealed class CliException(string message, int exitCode = 1, string? details = null) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
    public string? Details { get; } = details;
}

/// <summary>
/// The parsed command line of one command: positional arguments, options that take a value
/// (<c>--name VALUE</c> or <c>--name=VALUE</c>) and flags (<c>--name</c>).
/// </summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string> _options;
    private readonly HashSet<string> _flags;

    private Arguments(List<string> positionals, Dictionary<string, string> options, HashSet<string> flags)
    {
        Positionals = positionals;
        _options = options;
        _flags = flags;
    }

    public IReadOnlyList<string> Positionals { get; }

    /// <summary>True when <c>--help</c> or <c>-h</c> was given.</summary>
    public bool HelpRequested => _flags.Contains("help");

    /// <summary>Value of option <paramref name="name"/> (without dashes), or null when absent.</summary>
    public string? Get(string name) => _options.GetValueOrDefault(name);

    /// <summary>Value of a required option; a clear usage error when it is missing.</summary>
    public string Require(string name, string why) =>
        Get(name) is { Length: > 0 } value ? value : throw new UsageException($"--{name} is required ({why})");

    /// <summary>Whether flag <paramref name="name"/> (without dashes) was given.</summary>
    public bool Has(string name) => _flags.Contains(name);

    /// <summary>
    /// Parses <paramref name="args"/>. <paramref name="valueOptions"/> and <paramref name="flags"/> are names
    /// without the leading dashes; <c>--help</c>/<c>-h</c> are always accepted. A lone <c>-</c> and tokens that
    /// look like negative numbers are positional; <c>--</c> makes every later token positional.
    /// A repeated option keeps its last value.
    /// </summary>
    public static Arguments Parse(IReadOnlyList<string> args, IEnumerable<string> valueOptions, IEnumerable<string> flags)
    {
        var valueSet = new HashSet<string>(valueOptions, StringComparer.Ordinal);
        var flagSet = new HashSet<string>(flags, StringComparer.Ordinal) { "help" };
        var positionals = new List<string>();
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        var given = new HashSet<string>(StringComparer.Ordinal);

        for (var i = 0; i < args.Count; i++)
        {
            var token = args[i];
            if (token == "--")
            {
                positionals.AddRange(args.Skip(i + 1));
                break;
            }
            if (token == "-h")
            {
                given.Add("help");
                continue;
            }
            if (!token.StartsWith('-') || token == "-" || LooksLikeNumber(token))
            {
                positionals.Add(token);
                continue;
            }
            if (!token.StartsWith("--", StringComparison.Ordinal) || token.Length == 2)
                throw new UsageException($"unknown option '{token}'");

            var body = token[2..];
            string? inlineValue = null;
            var eq = body.IndexOf('=');
            if (eq >= 0)
            {
                inlineValue = body[(eq + 1)..];
                body = body[..eq];
            }

            if (valueSet.Contains(body))
            {
                if (inlineValue is null)
                {
                    if (i + 1 >= args.Count)
                        throw new UsageException($"option --{body} needs a value");
                    inlineValue = args[++i];
                }
                options[body] = inlineValue;
            }
            else if (flagSet.Contains(body))
            {
                if (inlineValue is not null)
                    throw new UsageException($"option --{body} does not take a value");
                given.Add(body);
            }
            else
            {
                throw new UsageException($"unknown option '--{body}'");
            }
        }
        return new Arguments(positionals, options, given);
    }

    private static bool LooksLikeNumber(string token) =>
        token.Length > 1 && token[0] == '-' && (char.IsAsciiDigit(token[1]) || (token[1] == '.' && token.Length > 2 && char.IsAsciiDigit(token[2])));

    /// <summary>Throws a usage error unless the number of positional arguments is within bounds.</summary>
    public void ExpectPositionals(int min, int max, string what)
    {
        if (Positionals.Count < min)
            throw new UsageException($"missing {what}");
        if (Positionals.Count > max)
            throw new UsageException($"unexpected argument '{Positionals[max]}'");
    }
}
