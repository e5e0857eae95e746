using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace OSForAI.Runtime.Workers.Isolation;

/// <summary>
/// Builds the seccomp filter that worker sandboxes run under: a classic-BPF program in the raw
/// form <c>bwrap --seccomp FD</c> reads from a file descriptor (an array of
/// <c>struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }</c>, little-endian, 8 bytes each).
/// <para>
/// What it does: kills any process whose system call arrives under another ABI than the one the
/// filter was built for (i386 <c>int 0x80</c> on x86_64, AArch32 on aarch64), refuses the x32 ABI
/// with ENOSYS, refuses with EPERM the calls hostile code uses to leave the sandbox or attack the
/// kernel (mounts and the new mount API, namespaces, ptrace and cross-process memory access, kernel
/// modules and kexec, bpf, perf events, the kernel keyring, userfaultfd, swap, reboot, the kernel
/// log, accounting, quotas, file handles, raw port I/O, clock setting, personality changes other
/// than the plain Linux one), refuses <c>clone</c> when it asks for a new namespace, answers
/// <c>clone3</c> with ENOSYS (its flags sit in memory the filter cannot read; glibc then falls back
/// to <c>clone</c>), refuses the TIOCSTI/TIOCLINUX terminal ioctls, and allows everything else.
/// </para>
/// <para>
/// What it does not do: it is a deny list, not an allow list, so system calls added to future
/// kernels are allowed until listed here; it does not look at paths, sockets or network families;
/// it does not limit resources (see <see cref="CgroupLimiter"/>); and it only protects processes
/// started with it (bwrap installs it, with no_new_privs, right before exec'ing the worker).
/// The reasoning follows Docker's default profile (calls that need capabilities a worker never
/// has, or that widen the kernel attack surface), written here from the kernel's documentation.
/// </para>
/// </summary>
public static class SeccompFilter
{
    /// <summary>The descriptor number the launcher opens the filter file on (dash only supports single-digit descriptors in redirections).</summary>
    public const int LauncherFd = 9;

    // Classic BPF opcodes (linux/bpf_common.h, linux/filter.h).
    private const ushort LdWAbs = 0x20;   // BPF_LD | BPF_W | BPF_ABS
    private const ushort JeqK = 0x15;     // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort JgeK = 0x35;     // BPF_JMP | BPF_JGE | BPF_K
    private const ushort JsetK = 0x45;    // BPF_JMP | BPF_JSET | BPF_K
    private const ushort RetK = 0x06;     // BPF_RET | BPF_K

    // Return values (linux/seccomp.h) and errno values (asm-generic/errno-base.h, errno.h).
    private const uint RetKillProcess = 0x80000000;
    private const uint RetErrno = 0x00050000;
    private const uint RetAllow = 0x7fff0000;
    private const uint Eperm = 1;
    private const uint Enosys = 38;

    // struct seccomp_data offsets: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
    private const uint OffNr = 0;
    private const uint OffArch = 4;
    private static uint OffArgLow(int i) => 16u + 8u * (uint)i; // low 32 bits, little-endian

    private const uint AuditArchX8664 = 0xC000003E;
    private const uint AuditArchAarch64 = 0xC00000B7;
    private const uint X32SyscallBit = 0x40000000;

    /// <summary>
    /// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
    /// CLONE_NEWNET (linux/sched.h). CLONE_NEWTIME (0x80) is not included: for clone() that bit is
    /// part of the exit signal (CSIGNAL); clone() cannot create time namespaces, and unshare is refused.
    /// The kernel only reads the low 32 bits of clone's flags, so the filter checks only those.
    /// </summary>
    private const uint CloneNamespaceFlags = 0x7E020000;

    private const uint Tiocsti = 0x5412;
    private const uint Tioclinux = 0x541C;
    private const uint PerLinux = 0x0000, PerLinux32 = 0x0008, PersonalityQuery = 0xFFFFFFFF;

    /// <summary>
    /// Syscall numbers: x86_64 from arch/x86/entry/syscalls/syscall_64.tbl (as installed in
    /// /usr/include/x86_64-linux-gnu/asm/unistd_64.h), aarch64 from the asm-generic table
    /// (include/uapi/asm-generic/unistd.h). Null where the call does not exist on that arch.
    /// </summary>
    private sealed record Sys(string Name, int? X64, int? Arm64);

    /// <summary>Calls refused with EPERM outright.</summary>
    private static readonly Sys[] Denied =
    [
        // Mounts, including the new mount API: a worker must not reshape its file system view.
        new("mount", 165, 40), new("umount2", 166, 39), new("pivot_root", 155, 41),
        new("move_mount", 429, 429), new("open_tree", 428, 428), new("fsopen", 430, 430),
        new("fsconfig", 431, 431), new("fsmount", 432, 432), new("fspick", 433, 433),
        new("mount_setattr", 442, 442),
        // Namespaces: new user namespaces hand back capabilities and a large kernel attack surface.
        new("unshare", 272, 97), new("setns", 308, 268),
        // Other processes' memory and state.
        new("ptrace", 101, 117), new("process_vm_readv", 310, 270), new("process_vm_writev", 311, 271),
        new("kcmp", 312, 272), new("pidfd_getfd", 438, 438),
        // The kernel itself: modules, kexec, reboot, swap, accounting.
        new("kexec_load", 246, 104), new("kexec_file_load", 320, 294),
        new("init_module", 175, 105), new("finit_module", 313, 273), new("delete_module", 176, 106),
        new("create_module", 174, null), new("get_kernel_syms", 177, null), new("query_module", 178, null),
        new("reboot", 169, 142), new("swapon", 167, 224), new("swapoff", 168, 225), new("acct", 163, 89),
        // Large, historically buggy kernel interfaces.
        new("bpf", 321, 280), new("perf_event_open", 298, 241), new("userfaultfd", 323, 282),
        new("keyctl", 250, 219), new("add_key", 248, 217), new("request_key", 249, 218),
        new("fanotify_init", 300, 262), new("lookup_dcookie", 212, 18), new("nfsservctl", 180, 42),
        // Information leaks and obsolete calls.
        new("syslog", 103, 116), new("uselib", 134, null), new("ustat", 136, null), new("sysfs", 139, null),
        new("_sysctl", 156, null),
        // Quotas and file handles (open_by_handle_at bypasses the mount view: "shocker").
        new("quotactl", 179, 60), new("quotactl_fd", 443, 443),
        new("open_by_handle_at", 304, 265), new("name_to_handle_at", 303, 264),
        // Raw port I/O (x86 only).
        new("iopl", 172, null), new("ioperm", 173, null),
        // The host clock and terminals.
        new("settimeofday", 164, 170), new("clock_settime", 227, 112), new("clock_adjtime", 305, 266),
        new("vhangup", 153, 58),
    ];

    private static readonly Sys Clone = new("clone", 56, 220);
    private static readonly Sys Clone3 = new("clone3", 435, 435);
    private static readonly Sys Personality = new("personality", 135, 92);
    private static readonly Sys Ioctl = new("ioctl", 16, 29);

    /// <summary>Whether a filter can be built for <paramref name="arch"/> (x86_64 and aarch64).</summary>
    public static bool IsSupported(Architecture arch) => arch is Architecture.X64 or Architecture.Arm64;

    /// <summary>The names of the calls refused with EPERM on <paramref name="arch"/> (besides the argument checks on clone, personality and ioctl).</summary>
    public static IReadOnlyList<string> DeniedCalls(Architecture arch) =>
        [.. Denied.Where(s => Number(s, arch) is not null).Select(s => s.Name)];

    /// <summary>
    /// The filter program for <paramref name="arch"/>, as the bytes bwrap reads from <c>--seccomp FD</c>.
    /// Throws <see cref="PlatformNotSupportedException"/> for other architectures (see <see cref="IsSupported"/>).
    /// </summary>
    public static byte[] Build(Architecture arch)
    {
        if (!IsSupported(arch))
            throw new PlatformNotSupportedException($"no seccomp filter for {arch}: only x86_64 and aarch64 are supported");
        var p = new Program();
        p.Emit(LdWAbs, OffArch);
        p.Jump(JeqK, arch == Architecture.X64 ? AuditArchX8664 : AuditArchAarch64, "native", null);
        p.Emit(RetK, RetKillProcess);
        p.Label("native");
        p.Emit(LdWAbs, OffNr);
        if (arch == Architecture.X64)
        {
            p.Jump(JgeK, X32SyscallBit, "enosys", null);
        }
        foreach (var s in Denied)
            if (Number(s, arch) is int nr) p.Jump(JeqK, (uint)nr, "eperm", null);
        p.Jump(JeqK, (uint)Number(Clone3, arch)!.Value, "enosys", null);
        p.Jump(JeqK, (uint)Number(Clone, arch)!.Value, "clone", null);
        p.Jump(JeqK, (uint)Number(Personality, arch)!.Value, "personality", null);
        p.Jump(JeqK, (uint)Number(Ioctl, arch)!.Value, "ioctl", null);
        p.Emit(RetK, RetAllow);

        p.Label("clone");                                  // clone(flags, ...) on both arches
        p.Emit(LdWAbs, OffArgLow(0));
        p.Jump(JsetK, CloneNamespaceFlags, "eperm", null);
        p.Emit(RetK, RetAllow);

        p.Label("personality");                            // personality(unsigned int persona)
        p.Emit(LdWAbs, OffArgLow(0));
        p.Jump(JeqK, PerLinux, "allow", null);
        p.Jump(JeqK, PerLinux32, "allow", null);
        p.Jump(JeqK, PersonalityQuery, "allow", null);
        p.Emit(RetK, RetErrno | Eperm);

        p.Label("ioctl");                                  // ioctl(fd, unsigned int cmd, ...)
        p.Emit(LdWAbs, OffArgLow(1));
        p.Jump(JeqK, Tiocsti, "eperm", null);
        p.Jump(JeqK, Tioclinux, "eperm", null);

        p.Label("allow");
        p.Emit(RetK, RetAllow);
        p.Label("eperm");
        p.Emit(RetK, RetErrno | Eperm);
        p.Label("enosys");
        p.Emit(RetK, RetErrno | Enosys);
        return p.Assemble();
    }

    /// <summary>
    /// Writes the filter for the architecture this process runs on to <paramref name="path"/>
    /// (mode 0644). Returns false, writing nothing, where the architecture is not supported.
    /// </summary>
    public static bool WriteTo(string path)
    {
        var arch = RuntimeInformation.ProcessArchitecture;
        if (!IsSupported(arch)) return false;
        File.WriteAllBytes(path, Build(arch));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return true;
    }

    private static int? Number(Sys s, Architecture arch) => arch == Architecture.X64 ? s.X64 : s.Arm64;

    /// <summary>A tiny assembler: forward jumps to labels, resolved into 8-bit offsets.</summary>
    private sealed class Program
    {
        private readonly List<(ushort Code, uint K, string? Jt, string? Jf)> _ins = [];
        private readonly Dictionary<string, int> _labels = [];

        public void Emit(ushort code, uint k) => _ins.Add((code, k, null, null));
        public void Jump(ushort code, uint k, string? jt, string? jf) => _ins.Add((code, k, jt, jf));
        public void Label(string name) => _labels.Add(name, _ins.Count);

        public byte[] Assemble()
        {
            if (_ins.Count > 4096) throw new InvalidOperationException("seccomp program longer than 4096 instructions");
            var bytes = new byte[_ins.Count * 8];
            for (var i = 0; i < _ins.Count; i++)
            {
                var (code, k, jt, jf) = _ins[i];
                var span = bytes.AsSpan(i * 8, 8);
                BinaryPrimitives.WriteUInt16LittleEndian(span, code);
                span[2] = Offset(i, jt);
                span[3] = Offset(i, jf);
                BinaryPrimitives.WriteUInt32LittleEndian(span[4..], k);
            }
            return bytes;
        }

        private byte Offset(int at, string? label)
        {
            if (label is null) return 0;
            var off = _labels[label] - at - 1;
            if (off is < 0 or > 255) throw new InvalidOperationException($"seccomp jump to {label} out of range ({off})");
            return (byte)off;
        }
    }
}
