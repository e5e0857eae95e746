using System.Diagnostics;

namespace OSForAI.Tests.Isolation;

/// <summary>Process helpers for the isolation tests: run to completion, or start and hold.</summary>
internal static class IsolationProcess
{
    public const string Python = "/usr/bin/python3";
    public const string Bwrap = "/usr/bin/bwrap";

    /// <summary>Fails the test (never skips) when a program these tests need is missing.</summary>
    public static void Require(string path, string what) =>
        Assert.True(File.Exists(path), $"{path} is missing: these tests need {what} (run them as root on Linux with it installed)");

    public static Process Start(string file, IEnumerable<string> args, bool stdin = false)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, int timeoutMs = 30_000)
    {
        using var p = Start(file, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeoutMs);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish in {timeoutMs} ms");
        }
        return (p.ExitCode, await stdout, await stderr);
    }
}
