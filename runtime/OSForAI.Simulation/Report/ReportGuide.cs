namespace OSForAI.Simulation.Report;

/// <summary>The fixed prose of the report: how results are measured (top) and the reference (bottom): the traces folder's
/// layout and the JSON fields. Generated with the numbers so the documentation cannot drift from the code.</summary>
public static class ReportGuide
{
    public const string Method = """
        How to read this report. Every figure is **out of sample**: whatever OSForAI chooses (the cost-aware keep-alive policy's knobs,
        the autoscaler's target utilisation and scale-down mode) is chosen by a grid on the first half of each trace (for SeeFood, on a
        training day drawn with other seeds) by a fixed rule stated in each section, and the figures reported are measured on the second
        half only. Keep-alive policies replay the whole trace so they learn from the first half as they would live, but only events in
        the second half are counted; the autoscalers replay the second half on its own. The grids, their value ladders and the choice
        rules were fixed before any second half was looked at, and the same command on another folder re-does every choice on that
        folder's own first halves. `osforai` is the grid-chosen setting; `osforai-default` is the compiled defaults, for reference: the
        keep-alive policy's defaults are set by reasoning (stated in the policy: what fixed 10-minute keep-alive pays for a 128-MB
        instance), while the autoscaler's compiled defaults predate this measurement and share their scale-down knobs with a setting
        that was picked by a sweep over these same LLM traces, so treat its `osforai-default` rows as in-sample. Each section ends with verdicts against the goals of SCALING.md; where a goal is missed,
        the frontier (sweep) rows and figures show the trade-off and the section says why. The same numbers are written as JSON by
        `--json FILE` (reference at the end).

        What runs. The autoscaler and SeeFood replays drive the live scheduler itself, `VersionScheduler`
        (runtime/OSForAI.Scaling/Scheduling), on a simulated clock: the same admission, FIFO queue, packing dispatch, start-on-queue
        rule, draining, decision ticks and defaults (`ScalingDefaults`) as the live `WorkerPool`; a test replays one arrival sequence
        through both and requires the same command sequence. The keep-alive study replays the policies per application with one
        instance per application (the model of Shahrad et al.), applying each policy's window exactly as the scheduler does.
        """;

    public const string Reference = """
        ## Reference: traces folder and JSON fields

        ### Traces folder layout

        `osai sim --traces DIR` searches DIR recursively and recognises files by name (case-insensitive; each may be gzip-compressed,
        `.csv.gz`); folder names do not matter. Each invocation file is its own trace and gives its own rows. Hidden folders are skipped.

        | file name | study | trace id | schema |
        |---|---|---|---|
        | `invocations.csv` | keepalive | its folder, relative to DIR (DIR's own name when it lies directly in DIR) | `HashOwner,HashApp,HashFunction[,Trigger],<minute columns>`: the id columns by name (Trigger may be missing), then one column per minute named by its number, consecutive (480..959 in the 500-function sample) |
        | `durations.csv` (beside `invocations.csv`) | keepalive | – | `HashApp,HashFunction,Average,…` (ms); missing → every function 1 s; a function without a row → the median of the others |
        | `memory.csv` (beside `invocations.csv`) | keepalive | – | per function: `HashFunction,HashApp,AverageAllocatedMb,…`; an application's memory = the sum of its rows; or per application when there is no `HashFunction` column; missing → every application 128 MB; an application without a row → the median of the others |
        | `invocations_per_function_md.anon.dNN.csv` | keepalive | folder/dNN | the original release: as above with minute columns 1..1440 |
        | `function_durations_percentiles.anon.dNN.csv` | keepalive | – | durations for day NN (the nearest day's in the same folder when NN's is missing) |
        | `app_memory_percentiles.anon.dNN.csv` | keepalive | – | memory per APPLICATION: `HashOwner,HashApp,SampleCount,AverageAllocatedMb,…` (nearest day when missing) |
        | `AzureLLMInferenceTrace_*.csv` (2023 `_code`, `_conv`; 2024 `_code_1week`, …) | autoscaler | the part after the prefix (`code`, `conv_1week`), with the folder in front when two files share it | `TIMESTAMP,ContextTokens,GeneratedTokens` by name, any order of rows |

        A folder without a kind of trace skips that study with the reason; a malformed file fails the study with an error naming the file and
        the line (exit code 1). SeeFood, chains and gpu are synthetic and need no traces.

        ### JSON fields (`--json FILE`)

        `{"rows":[…]}`, one row per study × trace × policy. Sweep points and load-time sensitivity rows have their own policy ids
        (`kpa@0.6`, `osforai@0.6`, `osforai@price=3600s,warmup=600s`, `fixed-10m@load=5s`), so (study, trace, policy) is unique. Every row
        has every field; null means the study has no such figure.

        | field | meaning | null when |
        |---|---|---|
        | `study` | `keepalive`, `autoscaler`, `seefood`, `chains`, `gpu` | never |
        | `trace` | trace id (see the layout); `seefood-day`, `synthetic-chain`, `synthetic-gpu-day` for the synthetic studies | never |
        | `policy` | `fixed-10m`, `fixed-20m`, `hybrid-histogram`, `osforai` (grid-chosen on the first half), `osforai-default` (compiled defaults), `oracle`, `never-unload`, `always-cold`, `kpa` (Knative defaults), `fixed-peak`, `hourly`, `ideal`, `fixed-60s`, `kserve`, `osforai-w0` (gpu), sweep and sensitivity ids as above (`kserve@node=60s`) | never |
        | `part` | what was measured: `second-half` (keepalive, autoscaler, chains), `held-out-day` (seefood), `all` (gpu) | never |
        | `calls` | invocations (keepalive), requests (autoscaler, seefood, gpu), downstream calls (chains) in the part | never |
        | `cold_starts` | invocations that found no warm instance (keepalive), calls that waited for a boot (autoscaler, seefood, chains), for a node, pod or model load (gpu) | seefood analytic regimes |
        | `cold_pct` | cold starts per invocation, percent | as `cold_starts` |
        | `app_cold_p50_pct`, `app_cold_p75_pct`, `app_cold_p90_pct` | per-application cold-start % (cold starts ÷ invocations of each application with an invocation in the part), percentiles over applications | studies without applications (autoscaler, seefood, chains) |
        | `wasted_instance_s` | instance-seconds held without serving: keepalive idle warm time + one load time per load; others instance-s − ideal instance-s | never |
        | `wasted_gb_s` | wasted instance-seconds × the application's memory (GB) | studies without a memory model (autoscaler, seefood, chains) |
        | `instance_s` | instance-seconds held (keepalive: busy + waste, one instance per application; gpu: GPU node-seconds) | never |
        | `ideal_instance_s` | instance-seconds of pure work: keepalive busy time (union of the application's invocations); service studies busy slot-seconds ÷ slots | never |
        | `p50_added_ms`, `p99_added_ms` | added latency per call, nearest rank: keepalive the load time of a cold start; service studies waiting (queueing and boots) | seefood analytic regimes |
        | `rejected` | calls refused by a full queue | keepalive and chains (no queue), seefood analytic regimes |
        | `loads` | loads: cold starts and pre-warms (keepalive), instance boots (others) | seefood analytic regimes |
        | `load_model` | load (boot) time model: `memory` (1 s + memory ÷ 200 MB/s), `fixed-Ns`; gpu: `node-180s+pull-60s+pod-5s+load-8s` | seefood analytic regimes |
        | `target_utilization` | the autoscaler's target utilisation | keepalive, chains, seefood analytic regimes |
        | `note` | what the policy id stands for (e.g. the knobs the grid chose) | rows that need none |
        """;
}
