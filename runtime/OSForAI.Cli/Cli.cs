using System.Reflection;
using OSForAI.Cli.Commands;

namespace OSForAI.Cli;

/// <summary>One command of <c>osai</c>: its words, help text, accepted options and handler.</summary>
internal sealed record CommandDefinition(
    string Path,
    string Usage,
    string[] Options,
    string[] Flags,
    Func<Arguments, CliHost, Task<int>> Run);

/// <summary>Entry point of the <c>osai</c> tool, callable in-process.</summary>
public static class Cli
{
    /// <summary>Options every client command accepts.</summary>
    internal static readonly string[] ClientOptions = ["url", "key", "home"];

    internal static readonly IReadOnlyList<CommandDefinition> Commands =
    [
        new("serve", Usage.Serve, ["port", "host", "home", "worker-host", "kubeconfig", "state"], [], ServeCommand.RunAsync),
        new("keys create", Usage.KeysCreate, [.. ClientOptions, "owner", "scopes", "name", "grants"], [], KeysCommands.CreateAsync),
        new("keys list", Usage.KeysList, ClientOptions, [], KeysCommands.ListAsync),
        new("keys revoke", Usage.KeysRevoke, ClientOptions, [], KeysCommands.RevokeAsync),
        new("algo publish", Usage.AlgoPublish, [.. ClientOptions, "name", "version", "description"], ["public", "private"], AlgoCommands.PublishAsync),
        new("algo build", Usage.AlgoBuild, [.. ClientOptions, "name", "description"], [], AlgoCommands.BuildAsync),
        new("algo list", Usage.AlgoList, ClientOptions, [], AlgoCommands.ListAsync),
        new("algo info", Usage.AlgoInfo, ClientOptions, [], AlgoCommands.InfoAsync),
        new("algo deprecate", Usage.AlgoDeprecate, ClientOptions, ["undo"], AlgoCommands.DeprecateAsync),
        new("algo delete", Usage.AlgoDelete, ClientOptions, [], AlgoCommands.DeleteAsync),
        new("algo audit", Usage.AlgoAudit, [.. ClientOptions, "limit"], [], AlgoCommands.AuditAsync),
        new("call", Usage.Call, [.. ClientOptions, "timeout", "out"], ["json", "text", "stdout", "async"], CallCommand.RunAsync),
        new("jobs get", Usage.JobsGet, [.. ClientOptions, "timeout", "out"], ["wait"], JobsCommands.GetAsync),
        new("jobs list", Usage.JobsList, [.. ClientOptions, "limit"], [], JobsCommands.ListAsync),
        new("data ls", Usage.DataLs, ClientOptions, [], DataCommands.ListAsync),
        new("data cp", Usage.DataCp, ClientOptions, [], DataCommands.CopyAsync),
        new("data rm", Usage.DataRm, ClientOptions, ["recursive"], DataCommands.RemoveAsync),
        new("data cat", Usage.DataCat, ClientOptions, [], DataCommands.CatAsync),
        new("example-model", Usage.ExampleModel, [], [], ExampleModelCommand.RunAsync),
        new("sim", Usage.Sim, SimCommand.Options, SimCommand.Flags, SimCommand.RunAsync),
        new("dev-cluster", Usage.DevCluster, DevClusterCommand.Options, [], DevClusterCommand.RunAsync),
    ];

    internal static readonly IReadOnlyDictionary<string, string> GroupUsage = new Dictionary<string, string>
    {
        ["keys"] = Usage.Keys,
        ["algo"] = Usage.Algo,
        ["data"] = Usage.Data,
        ["jobs"] = Usage.Jobs,
    };

    /// <summary>Runs <c>osai</c> with <paramref name="args"/>, writing to the given writers; returns the exit code
    /// (0 success, 1 failure reported by the server or an algorithm, 2 usage or connection problem).</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr) =>
        RunAsync(args, CliHost.ForProcess(stdout, stderr));

    internal static async Task<int> RunAsync(IReadOnlyList<string> args, CliHost host)
    {
        args = MoveLeadingClientOptions(args);
        if (args.Count == 0)
        {
            await host.Error.WriteLineAsync(Usage.Main);
            return 2;
        }

        var first = args[0];
        if (first is "-h" or "--help")
            return await WriteHelp(host, Usage.Main);
        if (first == "help")
            return await HelpCommand(args.Skip(1).ToArray(), host);
        if (first == "--version")
        {
            await host.Out.WriteLineAsync($"osai {Version}");
            return 0;
        }

        if (!TryFindCommand(args, out var command, out var consumed, out var problem, out var usage))
            return await UsageError(host, problem, usage);

        Arguments parsed;
        try
        {
            parsed = Arguments.Parse(args.Skip(consumed).ToArray(), command.Options, command.Flags);
        }
        catch (UsageException e)
        {
            return await UsageError(host, $"{command.Path}: {e.Message}", command.Usage);
        }
        if (parsed.HelpRequested)
            return await WriteHelp(host, command.Usage);

        try
        {
            return await command.Run(parsed, host);
        }
        catch (UsageException e)
        {
            return await UsageError(host, $"{command.Path}: {e.Message}", command.Usage);
        }
        catch (CliException e)
        {
            await host.Error.WriteLineAsync($"error: {e.Message}");
            if (!string.IsNullOrEmpty(e.Details))
                await host.Error.WriteLineAsync(e.Details.TrimEnd());
            return e.ExitCode;
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            // A bug or an unforeseen answer: one readable line, the whole trace with OSFORAI_DEBUG=1.
            await host.Error.WriteLineAsync($"error: {command.Path} failed: {e.GetType().Name}: {e.Message}");
            if (host.Env("OSFORAI_DEBUG") is not null)
                await host.Error.WriteLineAsync(e.ToString());
            return 1;
        }
    }

    /// <summary>
    /// Lets client options come before the command too (<c>osai --home DIR keys list</c>):
    /// they are moved behind it, where the command's parser reads them.
    /// </summary>
    internal static IReadOnlyList<string> MoveLeadingClientOptions(IReadOnlyList<string> args)
    {
        var leading = new List<string>();
        var i = 0;
        while (i < args.Count && args[i].StartsWith("--", StringComparison.Ordinal))
        {
            var name = args[i][2..].Split('=', 2)[0];
            if (!ClientOptions.Contains(name)) break;
            var inline = args[i].Contains('=');
            if (!inline && i + 1 >= args.Count) break;
            leading.AddRange(inline ? [args[i]] : [args[i], args[i + 1]]);
            i += inline ? 1 : 2;
        }
        return leading.Count == 0 ? args : [.. args.Skip(i), .. leading];
    }

    private static bool TryFindCommand(
        IReadOnlyList<string> args, out CommandDefinition command, out int consumed, out string problem, out string usage)
    {
        command = null!;
        consumed = 0;
        problem = "";
        usage = Usage.Main;
        var first = args[0];
        if (GroupUsage.TryGetValue(first, out var groupUsage))
        {
            usage = groupUsage;
            if (args.Count < 2)
            {
                problem = $"{first}: missing subcommand";
                return false;
            }
            if (args[1] is "-h" or "--help")
                return false; // empty problem: show the group's help
            if (args[1].StartsWith('-'))
            {
                problem = $"{first}: expected a subcommand before '{args[1]}'";
                return false;
            }
            var path = $"{first} {args[1]}";
            command = Commands.FirstOrDefault(c => c.Path == path)!;
            if (command is null)
            {
                problem = $"unknown command '{path}'";
                return false;
            }
            consumed = 2;
            return true;
        }
        command = Commands.FirstOrDefault(c => c.Path == first)!;
        if (command is null)
        {
            problem = first.StartsWith('-') ? $"unknown option '{first}'" : $"unknown command '{first}'";
            return false;
        }
        consumed = 1;
        return true;
    }

    private static async Task<int> HelpCommand(string[] topic, CliHost host)
    {
        if (topic.Length == 0)
            return await WriteHelp(host, Usage.Main);
        var path = string.Join(' ', topic);
        if (Commands.FirstOrDefault(c => c.Path == path) is { } command)
            return await WriteHelp(host, command.Usage);
        if (GroupUsage.TryGetValue(path, out var groupUsage))
            return await WriteHelp(host, groupUsage);
        return await UsageError(host, $"unknown command '{path}'", Usage.Main);
    }

    private static async Task<int> WriteHelp(CliHost host, string usage)
    {
        await host.Out.WriteLineAsync(usage);
        return 0;
    }

    private static async Task<int> UsageError(CliHost host, string problem, string usage)
    {
        if (problem.Length == 0)
            return await WriteHelp(host, usage); // "osai keys --help"
        await host.Error.WriteLineAsync($"error: {problem}");
        await host.Error.WriteLineAsync();
        await host.Error.WriteLineAsync(usage);
        return 2;
    }

    private static string Version =>
        typeof(Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Cli).Assembly.GetName().Version?.ToString()
        ?? "unknown";
}
