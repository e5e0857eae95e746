namespace OSForAI.Scaling.Scheduling;

/// <summary>What the host must do after a scheduler event.</summary>
public enum SchedulerCommandKind
{
    /// <summary>Start instance <see cref="SchedulerCommand.Instance"/> (a generic worker that loads the version, or a pod); report Ready, Pending or StartFailed.</summary>
    Start,
    /// <summary>Stop instance <see cref="SchedulerCommand.Instance"/>. It has no call in flight (the scheduler guarantees it).</summary>
    Stop,
    /// <summary>Run call <see cref="SchedulerCommand.Call"/> on instance <see cref="SchedulerCommand.Instance"/>; report Complete when it ends.</summary>
    Dispatch,
    /// <summary>Fail call <see cref="SchedulerCommand.Call"/> with <see cref="SchedulerCommand.Reject"/>.</summary>
    Reject,
}

/// <summary>Why the scheduler stops an instance.</summary>
public enum StopReason
{
    /// <summary>The autoscaler wants fewer instances; this one was idle, or drained.</summary>
    ScaleDown,
    /// <summary>The version went idle and its keep-alive window ended (or the policy unloads it now and pre-warms later).</summary>
    KeepAlive,
    /// <summary>Placement needed its memory for another version; only idle instances are evicted.</summary>
    Evicted,
    /// <summary>A call on it ran past its timeout (its code is stuck); stopped once its other calls have finished.</summary>
    Abandoned,
    /// <summary>The server is stopping.</summary>
    Shutdown,
}

/// <summary>Why a call was refused.</summary>
public enum RejectReason
{
    /// <summary>The bounded queue is full (429).</summary>
    QueueFull,
    /// <summary>Instances of the version failed to start (see <see cref="VersionScheduler.LastStartFailure"/>).</summary>
    StartFailed,
    /// <summary>The server is stopping.</summary>
    Stopping,
}

/// <summary>
/// One command from <see cref="VersionScheduler"/> to its host (the live <c>WorkerPool</c> or the simulator).
/// <see cref="Cold"/> on a dispatch: the call waited for an instance to start (a cold start). <see cref="Prewarm"/> on a start:
/// started ahead of demand.
/// </summary>
public readonly record struct SchedulerCommand(SchedulerCommandKind Kind, long Instance, long Call, bool Cold = false, bool Prewarm = false,
    StopReason StopReason = default, RejectReason Reject = default)
{
    public static SchedulerCommand Start(long instance, bool prewarm) => new(SchedulerCommandKind.Start, instance, 0, Prewarm: prewarm);
    public static SchedulerCommand Stop(long instance, StopReason reason) => new(SchedulerCommandKind.Stop, instance, 0, StopReason: reason);
    public static SchedulerCommand Dispatch(long call, long instance, bool cold) => new(SchedulerCommandKind.Dispatch, instance, call, Cold: cold);
    public static SchedulerCommand Refuse(long call, RejectReason reason) => new(SchedulerCommandKind.Reject, 0, call, Reject: reason);

    public override string ToString() => Kind switch
    {
        SchedulerCommandKind.Start => $"start i{Instance}{(Prewarm ? " (pre-warm)" : "")}",
        SchedulerCommandKind.Stop => $"stop i{Instance} ({StopReason})",
        SchedulerCommandKind.Dispatch => $"dispatch c{Call} → i{Instance}{(Cold ? " (cold)" : "")}",
        _ => $"reject c{Call} ({Reject})",
    };
}

/// <summary>Why an instance failed to start, as the host reported it (error type and message are the host's vocabulary).</summary>
/// <param name="Remember">The same start would fail the same way (e.g. code that does not load): refuse calls at once for a while instead of churning workers.</param>
public sealed record StartFailure(string ErrorType, string Message, string? Detail = null, bool Remember = false);
