using System.Diagnostics;

namespace OSForAI.Tests.Workers;

/// <summary>
/// Runs the Python runner's own protocol tests (runtime/runners/python/test_runner.py: a tiny host
/// written in Python that drives the runner frame by frame), so the README's test command covers them.
/// </summary>
public sealed class PythonRunnerSelfTests
{
    [Fact]
    public async Task Runner_protocol_tests_pass()
    {
        var root = OSForAI.Testing.Repository.Root;
        var script = Path.Combine(root, "runtime", "runners", "python", "test_runner.py");
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
        psi.ArgumentList.Add(script);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await p.WaitForExitAsync(cts.Token);
        var output = await stdout + await stderr;
        Assert.True(p.ExitCode == 0, output);
        Assert.Contains("OK", output);
    }
}
