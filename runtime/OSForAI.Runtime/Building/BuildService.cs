using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OSForAI.Runtime.Catalog;
using OSForAI.Runtime.Workers;

namespace OSForAI.Runtime.Building;

/// <summary>An upload that was accepted (stored, its manifest valid) and is about to be built.</summary>
public sealed record ReceivedUpload(BuildRecord Build, IReadOnlyList<string> Requirements, BuildRecord? Existing);

/// <summary>
/// Builds are a step of their own (docs/api.md, "Builds"): upload → build → a build hash its owner can call → versions
/// published only from a succeeded build. <see cref="ReceiveAsync"/> takes the upload and refuses what the files alone show to
/// be wrong (the archive, the manifest, requirements.txt, a model file that is not ONNX: 400, nothing kept). <see cref="BuildAsync"/> then builds it, writing to the
/// build's log as it goes:
/// <list type="bullet">
/// <item>python3: installs requirements.txt into the build's environment (<see cref="PythonEnvironments"/>), then loads the
/// entrypoint in a sandboxed generic worker exactly as a call would (<see cref="WorkerPool.CheckLoadAsync"/>): syntax errors,
/// a wrong module or function, a missing import all fail here, with the worker's message and traceback;</item>
/// <item>onnx: loads the model in a model worker started for the check (its signature was read at upload, <see cref="ModelInspector"/>).</item>
/// </list>
/// The outcome, failed or not, is stored with its log; a build the server could not run (no worker could start) records
/// nothing and is answered 503. Builds run while the upload request waits (synchronous, at most
/// OSForAI:Build:Timeout; a client may follow the log live), at most OSForAI:Build:MaxConcurrentBuilds at once.
/// </summary>
public sealed class BuildService
{
    private readonly CodeStore _code;
    private readonly CatalogStore _catalog;
    private readonly PythonEnvironments _environments;
    private readonly WorkerPool _pool;
    private readonly ModelWorkerPool _models;
    private readonly OsaiOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<BuildService> _log;
    private readonly SemaphoreSlim _slots;

    public BuildService(CodeStore code, CatalogStore catalog, PythonEnvironments environments, WorkerPool pool, ModelWorkerPool models,
        IOptions<OsaiOptions> options, TimeProvider clock, ILogger<BuildService> log)
    {
        _code = code;
        _catalog = catalog;
        _environments = environments;
        _pool = pool;
        _models = models;
        _options = options.Value;
        _clock = clock;
        _log = log;
        _slots = new SemaphoreSlim(_options.Build.MaxConcurrentBuilds);
    }

    /// <summary>Stores an upload after checking its manifest, its resources against this node, and its requirements.txt.</summary>
    public async Task<ReceivedUpload> ReceiveAsync(string owner, string name, Stream body, CodeUploadKind kind, string? fileName, CancellationToken ct)
    {
        IReadOnlyList<string> requirements = [];
        var build = await _code.IngestAsync(owner, name, body, kind, fileName, _options.MaxCodeUploadBytes, ct, (manifest, dir) =>
        {
            AlgorithmManifest.RequireFits(manifest.Resources, _options.Workers.Node);
            var file = Path.Combine(dir, PythonEnvironments.RequirementsFile);
            if (!File.Exists(file)) return;
            if (manifest.Runtime != "python3")
                throw new CatalogException(CatalogError.Invalid, $"{PythonEnvironments.RequirementsFile} is for python3 algorithms; this one's runtime is {manifest.Runtime}");
            requirements = PythonEnvironments.ParseRequirements(File.ReadAllText(file));
        });
        var existing = _catalog.FindBuild(owner, name, build.Hash) is { Status: BuildStatus.Succeeded } done ? done : null;
        return new ReceivedUpload(build, requirements, existing);
    }

    /// <summary>
    /// Builds a received upload and stores the outcome with its log; returns the stored build. A build of code that already built
    /// successfully is that build (its environment and check stand: versions may run it). Cancelling (the client went away)
    /// stores nothing: uploading the same code again builds it.
    /// </summary>
    public async Task<BuildRecord> BuildAsync(ReceivedUpload upload, BuildLog log, CancellationToken ct)
    {
        var build = upload.Build;
        var m = build.Manifest;
        log.Line($"build {build.Hash[..12]} of {build.Owner}/{build.Name}: runtime {m.Runtime}, " +
                 (m.Runtime == "onnx" ? $"model {m.Entrypoint}" : $"entrypoint {m.Entrypoint}"));
        if (upload.Existing is { } existing)
        {
            log.Line($"this code was built before ({existing.FinishedAt ?? existing.CreatedAt:u}) and succeeded: nothing to do");
            return existing;
        }
        var started = Stopwatch.GetTimestamp();
        if (!_slots.Wait(0))
        {
            log.Line($"waiting for a turn ({_options.Build.MaxConcurrentBuilds} builds run at once, OSForAI:Build:MaxConcurrentBuilds) ...");
            await _slots.WaitAsync(ct);
        }
        string? error = null;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(_options.Build.Timeout);
            try
            {
                build = m.Runtime == "onnx" ? await BuildModelAsync(build, log, deadline.Token) : await BuildPythonAsync(upload, log, deadline.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                error = $"the build ran past its time limit of {_options.Build.Timeout.TotalSeconds:0} s (OSForAI:Build:Timeout)";
            }
            catch (AlgorithmCallException e) when (e.ErrorType == ErrorTypes.Unavailable)
            {
                // The server could not run the check (no worker could start): no verdict on the code, so nothing is recorded.
                log.Line("the build could not run: " + e.Message);
                throw new AlgorithmCallException(ErrorTypes.Unavailable, "the build could not run, so nothing was recorded: " + e.Message);
            }
            catch (BuildFailedException e) { error = e.Message; }
            catch (CatalogException e) when (e.Kind == CatalogError.Invalid) { error = e.Message; }
            catch (AlgorithmCallException e)
            {
                error = e.Message;
                if (e.AlgorithmStacktrace is { Length: > 0 } trace) log.Lines(trace);
            }
        }
        finally { _slots.Release(); }
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (error is not null) log.Line("error: " + error);
        log.Line(error is null ? $"build succeeded in {elapsed.TotalSeconds:0.00} s" : $"build FAILED after {elapsed.TotalSeconds:0.00} s");
        var stored = _catalog.SaveBuild(build with
        {
            Status = error is null ? BuildStatus.Succeeded : BuildStatus.Failed,
            Error = error,
            FinishedAt = _clock.GetUtcNow(),
            DurationMs = (long)elapsed.TotalMilliseconds,
        }, log.ToString());
        _log.LogInformation("build {Hash} of {Owner}/{Name}: {Outcome} in {Seconds:0.00} s", build.Hash[..12], build.Owner, build.Name,
            error is null ? "succeeded" : "failed: " + error, elapsed.TotalSeconds);
        return stored;
    }

    private async Task<BuildRecord> BuildPythonAsync(ReceivedUpload upload, BuildLog log, CancellationToken ct)
    {
        var build = upload.Build;
        if (upload.Requirements.Count > 0)
        {
            var env = await _environments.PrepareAsync(upload.Requirements, log, ct);
            build = build with { Environment = env };
        }
        else log.Line("no requirements.txt: the standard library only" + (build.Manifest.SystemPackages ? ", and the host's packages" : ""));
        if (build.Manifest.SystemPackages) log.Line("system_packages: true: the host's site-packages come after the build's own packages");
        var r = build.Manifest.Resources;
        log.Line($"checking that {build.Manifest.Entrypoint} loads: in a sandboxed worker, {r.MemoryMb} MB of memory, no network, " +
                 $"at most {_options.Build.CheckTimeout.TotalSeconds:0} s ...");
        var loadMs = await _pool.CheckLoadAsync(CatalogStore.FromBuild(build), _options.Build.CheckTimeout, ct);
        log.Line($"{build.Manifest.Entrypoint} loaded in {loadMs:0} ms");
        return build;
    }

    private async Task<BuildRecord> BuildModelAsync(BuildRecord build, BuildLog log, CancellationToken ct)
    {
        var model = build.Manifest.Model!;
        log.Line("inputs: " + string.Join(", ", model.Inputs.Select(t => $"{t.Name} {t.Type} {t.ShapeText}")));
        log.Line("outputs: " + string.Join(", ", model.Outputs.Select(t => $"{t.Name} {t.Type} {t.ShapeText}")));
        log.Line($"loading the model in a model worker of its own (CPU, at most {_options.Build.CheckTimeout.TotalSeconds:0} s) ...");
        var facts = await _models.CheckLoadAsync(CatalogStore.FromBuild(build), _options.Build.CheckTimeout, ct);
        log.Line($"the model loads ({facts.ResidentBytes / 1048576.0:0.0} MB)");
        return build;
    }
}
