using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using OSForAI.Runtime.Workers.Isolation;

namespace OSForAI.Tests.Isolation;

/// <summary>
/// The seccomp filter: its program is well-formed classic BPF and decides as intended (checked by a
/// small interpreter, for both architectures), and under real bubblewrap on this machine the hostile
/// calls fail with EPERM while ordinary work still runs. The bwrap tests need Linux, /usr/bin/bwrap
/// and /usr/bin/python3, and fail (not skip) without them.
/// </summary>
public sealed class SeccompFilterTests
{
    private const uint Allow = 0x7fff0000, Kill = 0x80000000, Eperm = 0x00050001, Enosys = 0x00050026;
    private const uint ArchX64 = 0xC000003E, ArchArm64 = 0xC00000B7, ArchI386 = 0x40000003;

    public static TheoryData<Architecture> Arches => new() { Architecture.X64, Architecture.Arm64 };

    [Theory]
    [MemberData(nameof(Arches))]
    public void Program_is_well_formed(Architecture arch)
    {
        var prog = SeccompFilter.Build(arch);
        Assert.True(prog.Length % 8 == 0, "length is not a multiple of 8");
        var n = prog.Length / 8;
        Assert.InRange(n, 4, 4096);
        for (var i = 0; i < n; i++)
        {
            var (code, jt, jf, k) = At(prog, i);
            switch (code & 0x07)
            {
                case 0x00: // BPF_LD: only 32-bit absolute loads inside struct seccomp_data (64 bytes)
                    Assert.Equal(0x20, code);
                    Assert.True(k % 4 == 0 && k < 64, $"load offset {k} at {i}");
                    break;
                case 0x05: // BPF_JMP (conditional, K)
                    Assert.Contains(code, new ushort[] { 0x15, 0x35, 0x45 });
                    Assert.True(i + 1 + jt < n && i + 1 + jf < n, $"jump out of range at {i}");
                    break;
                case 0x06: // BPF_RET K
                    Assert.Equal(0x06, code);
                    Assert.Contains(k, new[] { Allow, Kill, Eperm, Enosys });
                    break;
                default:
                    Assert.Fail($"unexpected instruction class {code:x} at {i}");
                    break;
            }
        }
        Assert.Equal(0x06, At(prog, n - 1).Code);
        Assert.Equal((0x20, 4u), (At(prog, 0).Code, At(prog, 0).K)); // arch is checked first
    }

    [Fact]
    public void Unsupported_architectures_are_refused()
    {
        Assert.False(SeccompFilter.IsSupported(Architecture.X86));
        Assert.Throws<PlatformNotSupportedException>(() => SeccompFilter.Build(Architecture.Arm));
    }

    [Fact]
    public void X64_program_decides_as_intended()
    {
        var p = SeccompFilter.Build(Architecture.X64);
        Assert.Equal(Kill, Eval(p, ArchI386, 1));              // i386 ABI on x86_64
        Assert.Equal(Kill, Eval(p, ArchArm64, 0));
        Assert.Equal(Enosys, Eval(p, ArchX64, 0x40000000 + 165)); // x32 mount
        Assert.Equal(Allow, Eval(p, ArchX64, 0));              // read
        Assert.Equal(Eperm, Eval(p, ArchX64, 165));            // mount
        Assert.Equal(Eperm, Eval(p, ArchX64, 272));            // unshare
        Assert.Equal(Eperm, Eval(p, ArchX64, 101));            // ptrace
        Assert.Equal(Eperm, Eval(p, ArchX64, 173));            // ioperm
        Assert.Equal(Enosys, Eval(p, ArchX64, 435));           // clone3
        Assert.Equal(Allow, Eval(p, ArchX64, 56, 0x01200011)); // clone as fork does
        Assert.Equal(Allow, Eval(p, ArchX64, 56, 0x003d0f00)); // clone as pthread_create does
        Assert.Equal(Eperm, Eval(p, ArchX64, 56, 0x10000011)); // CLONE_NEWUSER|SIGCHLD
        Assert.Equal(Eperm, Eval(p, ArchX64, 56, 0x40000000)); // CLONE_NEWNET
        Assert.Equal(Allow, Eval(p, ArchX64, 135, 0xffffffff)); // personality query
        Assert.Equal(Eperm, Eval(p, ArchX64, 135, 0x0040000));  // ADDR_NO_RANDOMIZE
        Assert.Equal(Eperm, Eval(p, ArchX64, 16, 0, 0x5412));   // ioctl TIOCSTI
        Assert.Equal(Eperm, Eval(p, ArchX64, 16, 0, 0x1_0000_5412)); // high bits ignored, as by the kernel
        Assert.Equal(Allow, Eval(p, ArchX64, 16, 0, 0x5401));   // ioctl TCGETS
    }

    [Fact]
    public void Arm64_program_decides_as_intended()
    {
        var p = SeccompFilter.Build(Architecture.Arm64);
        Assert.Equal(Kill, Eval(p, 0x40000028, 40));           // AArch32
        Assert.Equal(Kill, Eval(p, ArchX64, 40));
        Assert.Equal(Allow, Eval(p, ArchArm64, 63));           // read
        Assert.Equal(Allow, Eval(p, ArchArm64, 165));          // getrusage (x86 mount number)
        Assert.Equal(Eperm, Eval(p, ArchArm64, 40));           // mount
        Assert.Equal(Eperm, Eval(p, ArchArm64, 39));           // umount2
        Assert.Equal(Eperm, Eval(p, ArchArm64, 97));           // unshare
        Assert.Equal(Eperm, Eval(p, ArchArm64, 117));          // ptrace
        Assert.Equal(Eperm, Eval(p, ArchArm64, 280));          // bpf
        Assert.Equal(Enosys, Eval(p, ArchArm64, 435));         // clone3
        Assert.Equal(Allow, Eval(p, ArchArm64, 220, 0x01200011));
        Assert.Equal(Eperm, Eval(p, ArchArm64, 220, 0x20000011)); // CLONE_NEWPID
        Assert.Equal(Eperm, Eval(p, ArchArm64, 29, 1, 0x5412));
        Assert.DoesNotContain("iopl", SeccompFilter.DeniedCalls(Architecture.Arm64));
        Assert.Contains("iopl", SeccompFilter.DeniedCalls(Architecture.X64));
    }

    /// <summary>The probes, run by python inside bwrap: each prints "ok" or the errno name.</summary>
    private const string Probe = """
        import ctypes, errno, json, os, platform, socket, subprocess, threading
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        X = platform.machine() == "x86_64"
        NR = dict(mount=165 if X else 40, umount2=166 if X else 39, unshare=272 if X else 97,
                  setns=308 if X else 268, ptrace=101 if X else 117, keyctl=250 if X else 219,
                  bpf=321 if X else 280, clone=56 if X else 220, clone3=435,
                  personality=135 if X else 92, ioctl=16 if X else 29)
        def call(name, *args):
            ctypes.set_errno(0)
            r = libc.syscall(ctypes.c_long(NR[name]), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
            if name == "clone" and r == 0:
                os._exit(0)
            if name == "clone" and r > 0:
                os.waitpid(r, 0)
            return "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
        def in_child(f):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(w, f().encode()); os._exit(0)
            os.close(w); os.waitpid(pid, 0)
            return os.read(r, 100).decode()
        out = {}
        out["mount"] = call("mount", 0, 0, 0, 0, 0)
        out["umount2"] = call("umount2", 0, 0)
        out["unshare_user"] = in_child(lambda: call("unshare", 0x10000000))
        out["setns"] = call("setns", -1, 0)
        out["ptrace_attach"] = call("ptrace", 16, 999999, 0, 0)
        out["keyctl"] = call("keyctl", 9999, 0, 0, 0, 0)
        out["bpf"] = call("bpf", 9999, 0, 0)
        out["clone_newuser"] = call("clone", 0x10000000 | 17, 0, 0, 0, 0)
        out["clone3"] = call("clone3", 0, 0)
        out["personality_norandom"] = call("personality", 0x0040000)
        out["personality_query"] = call("personality", 0xffffffff)
        pr, pw = os.pipe()  # a pipe, never a terminal: without the filter TIOCSTI must not inject anything
        out["tiocsti"] = call("ioctl", pr, 0x5412, ctypes.c_char_p(b"x"))
        # ordinary work
        results = []
        ts = [threading.Thread(target=lambda i=i: results.append(sum(range(i * 1000)))) for i in range(4)]
        [t.start() for t in ts]; [t.join() for t in ts]
        out["threads"] = len(results)
        out["subprocess"] = subprocess.run(["/bin/true"]).returncode
        pid = os.fork()
        if pid == 0: os._exit(7)
        out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        with open("/tmp/probe.txt", "w") as f: f.write("hello")
        with open("/tmp/probe.txt") as f: out["file"] = f.read()
        a, b = socket.socketpair()
        a.sendall(b"ping"); out["socketpair"] = b.recv(4).decode()
        print(json.dumps(out))
        """;

    private static async Task<Dictionary<string, JsonElement>> RunProbeAsync(bool withFilter)
    {
        Assert.True(OperatingSystem.IsLinux(), "the seccomp tests need Linux");
        IsolationProcess.Require(IsolationProcess.Bwrap, "bubblewrap");
        IsolationProcess.Require(IsolationProcess.Python, "Debian's python3");
        Assert.True(SeccompFilter.IsSupported(RuntimeInformation.ProcessArchitecture),
            $"no seccomp filter for {RuntimeInformation.ProcessArchitecture}: the bwrap tests need x86_64 or aarch64");
        var filter = Path.Combine(Path.GetTempPath(), $"osforai-seccomp-{Guid.NewGuid():N}.bpf");
        try
        {
            Assert.True(SeccompFilter.WriteTo(filter));
            string[] bwrap =
            [
                IsolationProcess.Bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                "--unshare-user", "--unshare-pid",
                .. withFilter ? new[] { "--seccomp", SeccompFilter.LauncherFd.ToString(System.Globalization.CultureInfo.InvariantCulture) } : [],
                "--", IsolationProcess.Python, "-c", Probe,
            ];
            var (exit, stdout, stderr) = await IsolationProcess.RunAsync(WorkerLauncher.Shell,
                WorkerLauncher.ShellArguments([], withFilter ? filter : null, bwrap));
            Assert.True(exit == 0, $"the probe failed (exit {exit}): {stderr}");
            return JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(stdout)!;
        }
        finally
        {
            File.Delete(filter);
        }
    }

    [Fact]
    public async Task Hostile_calls_fail_with_EPERM_inside_bwrap()
    {
        var r = await RunProbeAsync(withFilter: true);
        foreach (var call in new[] { "mount", "umount2", "unshare_user", "setns", "ptrace_attach", "keyctl", "bpf",
                     "clone_newuser", "personality_norandom", "tiocsti" })
            Assert.True(r[call].GetString() == "EPERM", $"{call}: expected EPERM, got {r[call]}");
        Assert.Equal("ENOSYS", r["clone3"].GetString());
        Assert.Equal("ok", r["personality_query"].GetString());
    }

    [Fact]
    public async Task Ordinary_work_runs_under_the_filter()
    {
        var r = await RunProbeAsync(withFilter: true);
        Assert.Equal(4, r["threads"].GetInt32());
        Assert.Equal(0, r["subprocess"].GetInt32());
        Assert.Equal(7, r["fork"].GetInt32());
        Assert.Equal("hello", r["file"].GetString());
        Assert.Equal("ping", r["socketpair"].GetString());
    }

    /// <summary>The same probes without the filter get other answers, so EPERM above comes from the filter.</summary>
    [Fact]
    public async Task Without_the_filter_the_probes_get_other_answers()
    {
        var r = await RunProbeAsync(withFilter: false);
        Assert.Equal("EFAULT", r["mount"].GetString());
        Assert.Equal("EFAULT", r["umount2"].GetString());
        Assert.Equal("EBADF", r["setns"].GetString());
        Assert.Equal("ESRCH", r["ptrace_attach"].GetString());
        Assert.NotEqual("EPERM", r["keyctl"].GetString());
        Assert.NotEqual("EPERM", r["clone3"].GetString());
        Assert.NotEqual("EPERM", r["tiocsti"].GetString());
        Assert.Equal("ok", r["clone_newuser"].GetString());
        Assert.Equal("ok", r["unshare_user"].GetString());
    }

    private static (ushort Code, byte Jt, byte Jf, uint K) At(byte[] prog, int i)
    {
        var s = prog.AsSpan(i * 8, 8);
        return (BinaryPrimitives.ReadUInt16LittleEndian(s), s[2], s[3], BinaryPrimitives.ReadUInt32LittleEndian(s[4..]));
    }

    /// <summary>Runs the program on a seccomp_data { nr, arch, ip = 0, args }.</summary>
    private static uint Eval(byte[] prog, uint arch, uint nr, params ulong[] args)
    {
        var data = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(data, nr);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(4), arch);
        for (var i = 0; i < args.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(16 + 8 * i), args[i]);
        uint a = 0;
        for (var pc = 0; ;)
        {
            var (code, jt, jf, k) = At(prog, pc);
            switch (code)
            {
                case 0x20: a = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan((int)k)); pc++; break;
                case 0x15: pc += 1 + (a == k ? jt : jf); break;
                case 0x35: pc += 1 + (a >= k ? jt : jf); break;
                case 0x45: pc += 1 + ((a & k) != 0 ? jt : jf); break;
                case 0x06: return k;
                default: throw new InvalidOperationException($"opcode {code:x}");
            }
        }
    }
}
