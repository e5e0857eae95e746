using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using OSForAI.Runtime;
using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Workers.Isolation;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Isolation;

/// <summary>The isolation pieces on their own: peer credentials, token delegation, the output budget, settings.</summary>
public sealed class IsolationUnitTests
{
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task Peer_credentials_name_the_connecting_process_and_its_ancestry()
    {
        var path = Path.Combine(Path.GetTempPath(), "osai-peer-" + Guid.NewGuid().ToString("N")[..8] + ".sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        try
        {
            // A child process (python) connects: the host sees its pid, which descends from the shell that started it.
            using var shell = Process.Start(new ProcessStartInfo("/bin/sh", ["-c",
                $"/usr/bin/python3 -c \"import socket,time; s=socket.socket(socket.AF_UNIX); s.connect('{path}'); time.sleep(5)\""]))!;
            using var accepted = await listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(10));
            var peer = PeerCredentials.Of(accepted);
            Assert.NotNull(peer);
            Assert.NotEqual(shell.Id, peer!.Value.Pid);
            Assert.True(PeerCredentials.DescendsFrom(peer.Value.Pid, shell.Id));
            Assert.False(PeerCredentials.DescendsFrom(peer.Value.Pid, Environment.ProcessId + 1_000_000));
            Assert.False(PeerCredentials.DescendsFrom(Environment.ProcessId, shell.Id), "the server is no descendant of its worker");
            shell.Kill(entireProcessTree: true);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_delegated_token_is_allowed_only_from_its_workers_connections_while_its_call_runs()
    {
        var d = new CallDelegation();
        var mine = new IPEndPoint(IPAddress.Loopback, 40001);
        var other = new IPEndPoint(IPAddress.Loopback, 40002);
        using var c1 = d.Connected(mine, "w1");
        using var c2 = d.Connected(other, "w2");
        Assert.False(d.Allows("call-a", IPAddress.Loopback, 40001));                   // not dispatched yet
        var dispatched = d.Dispatched("call-a", "w1");
        Assert.True(d.Allows("call-a", IPAddress.Loopback, 40001));
        Assert.True(d.Allows("call-a", IPAddress.Parse("::ffff:127.0.0.1"), 40001));   // the same connection seen as IPv6
        Assert.False(d.Allows("call-a", IPAddress.Loopback, 40002));                   // another worker's connection
        Assert.False(d.Allows("call-a", IPAddress.Loopback, 40003));                   // not a worker's connection at all
        Assert.False(d.Allows(null, IPAddress.Loopback, 40001));
        dispatched.Dispose();
        Assert.False(d.Allows("call-a", IPAddress.Loopback, 40001));                   // the call has ended
    }

    [Fact]
    public async Task Worker_output_is_cut_into_short_lines_and_held_to_its_budget_with_a_summary()
    {
        var logs = new CapturedLogs();
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var output = new WorkerOutputLog("w1", logs.CreateLogger("test"), clock, bytesPerSecond: 1000);
        var flood = new StringBuilder();
        flood.Append(new string('x', 100_000)).Append('\n');                           // one huge line
        for (var i = 0; i < 10_000; i++) flood.Append("line ").Append(i).Append('\n');  // ~100 KB of lines
        await output.PumpAsync(new MemoryStream(Encoding.UTF8.GetBytes(flood.ToString())), isError: false);
        var lines = logs.Entries.Where(e => e.Message.StartsWith("[w1] ") && !e.Message.Contains("dropped")).ToList();
        Assert.Contains(lines, e => e.Message.EndsWith("[…cut]") && e.Message.Length < WorkerOutputLog.MaxLineBytes + 64);
        var logged = lines.Sum(e => e.Message.Length);
        Assert.True(logged <= 10_000 + 2 * WorkerOutputLog.MaxLineBytes, $"{logged} bytes logged under a 10 KB burst");
        var summary = Assert.Single(logs.Entries, e => e.Message.Contains("dropped"));
        Assert.Equal(LogLevel.Warning, summary.Level);
        // Time refills the budget.
        clock.Now += TimeSpan.FromSeconds(5);
        await output.PumpAsync(new MemoryStream("after a pause\n"u8.ToArray()), isError: true);
        Assert.Contains(logs.Entries, e => e.Message == "[w1] after a pause" && e.Level == LogLevel.Warning);
    }

    [Fact]
    public void Worker_uids_are_unique_while_held_and_return_when_released()
    {
        var uids = new WorkerUids(61000, 2);
        var a = uids.Take()!;
        var b = uids.Take()!;
        Assert.NotEqual(a.Uid, b.Uid);
        Assert.Null(uids.Take());
        a.Dispose();
        a.Dispose();   // twice is harmless
        Assert.Equal(a.Uid, uids.Take()!.Uid);
    }

    [Fact]
    public void The_egress_policy_refuses_loopback_private_metadata_and_this_hosts_own_addresses()
    {
        foreach (var refused in new[] { "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "::1", "fd00::1", "0.0.0.0" })
            Assert.False(WorkerEgressProxy.MayReach(IPAddress.Parse(refused)), refused);
        Assert.True(WorkerEgressProxy.MayReach(IPAddress.Parse("192.0.2.1")) || IsOwn("192.0.2.1"));
        foreach (var own in System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                     .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(u => u.Address))
            Assert.False(WorkerEgressProxy.MayReach(own), own.ToString());
    }

    private static bool IsOwn(string address) => System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
        .SelectMany(n => n.GetIPProperties().UnicastAddresses).Any(u => u.Address.Equals(IPAddress.Parse(address)));

    [Fact]
    public void Invalid_isolation_settings_are_all_reported_at_once()
    {
        var o = new OsaiOptions();
        o.Workers.SandboxFirstUid = 0;
        o.Workers.MaxProcesses = 1;
        o.Workers.OutputBytesPerSecond = -1;
        o.Workers.SandboxReadOnlyPaths = ["relative/path"];
        var result = new OsaiOptionsValidation().Validate(null, o);
        Assert.True(result.Failed);
        foreach (var key in new[] { "SandboxFirstUid", "MaxProcesses", "OutputBytesPerSecond", "SandboxReadOnlyPaths" })
            Assert.Contains(key, result.FailureMessage);
    }
}
