// TEMPORARY stand-in for the iso-limits branch (replaced at merge).
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
namespace OSForAI.Runtime.Workers.Isolation;
public sealed record WorkerLimits(long? MemoryBytes, int? MaxProcesses, double? CpuCores);
public interface IWorkerCgroup : IDisposable { IReadOnlyList<string> ProcsFiles { get; } bool WasOomKilled(); long? PeakMemoryBytes { get; } void Update(WorkerLimits limits); }
public sealed class CgroupLimiter
{
    public static CgroupLimiter Detect(string groupName = "osforai", ILogger? log = null) => new();
    public string Description => "none (stub)";
    public IWorkerCgroup? Create(string workerId, WorkerLimits limits) => null;
    public static IReadOnlyList<string> RlimitArguments(WorkerLimits limits, bool ownUid) => [];
}
public static class SeccompFilter
{
    public static bool IsSupported(Architecture arch) => false;
    public static byte[] Build(Architecture arch) => [];
}
