namespace OSForAI.Cli;

/// <summary>Help texts of <c>osai</c> and its commands.</summary>
internal static class Usage
{
    public const string Main = """
        osai - command-line tool of OSForAI, the operating system for AI inference

        Usage: osai <command> [arguments] [options]

        Server:
          serve                     Start an OSForAI server in the foreground

        Keys (admin):
          keys create               Create an API key and print it
          keys list                 List API keys
          keys revoke ID            Revoke an API key

        Algorithms:
          algo publish DIR          Upload code, build it and publish it as a version
          algo build DIR            Upload code and build it (no version): prints the build hash
          algo list                 List algorithms
          algo info OWNER/NAME      Show an algorithm and its versions
          algo deprecate NAME VER   Deprecate a version (--undo takes it back)
          algo delete NAME[/VER]    Delete a version, or an algorithm without versions
          algo audit OWNER/NAME     Show who changed an algorithm, and when
          call OWNER/NAME[/VER] IN  Call an algorithm (--async: queue it as a job)

        Jobs (asynchronous calls):
          jobs get ID [--wait]      Show a job's status, or its result once it has one
          jobs list                 List your jobs, newest first

        Data:
          data ls [URI]             List a folder (default data://.my/)
          data cp SRC DST           Copy a file: local to data://, data:// to local, or between URIs
          data rm URI               Delete a file (or a folder with --recursive)
          data cat URI              Write a file's bytes to standard output

        Models:
          example-model NAME DIR    Write a small ONNX model (linear) as DIR/model.onnx

        Simulation:
          sim                       Replay traces through the scaling policies, write a report

        Development:
          dev-cluster               Run an in-process Kubernetes API whose pods are local processes

        Client options (all client commands):
          --url URL                 Server URL (else $OSFORAI_URL, else <home>/server.json)
          --key KEY                 API key (else $OSFORAI_KEY, else <home>/admin.key)
          --home DIR                Home folder (else $OSFORAI_HOME, else ~/.osforai)

        Run 'osai <command> --help' for details of a command.
        """;

    public const string Serve = """
        Usage: osai serve [--port N] [--host ADDR] [--home DIR] [--worker-host process|kubernetes] [--kubeconfig FILE] [--state URI]

        Starts an OSForAI server in the foreground and runs it until Ctrl+C (or SIGTERM).

        Options:
          --port N                 TCP port to listen on (default 8080; 0 picks a free one)
          --host ADDR              Address to bind (default 127.0.0.1)
          --home DIR               Folder for all state (else $OSFORAI_HOME, else ~/.osforai)
          --worker-host KIND       process (default: sandboxed child processes) or kubernetes (every worker a pod)
          --kubeconfig FILE        The cluster for --worker-host kubernetes (e.g. the one `osai dev-cluster` writes)
          --state URI              Keep catalog, keys and jobs in PostgreSQL, postgres://USER:PASSWORD@HOST:PORT/DB
                                   (default: SQLite in the home folder; same as the setting OSForAI:State)
        """;

    public const string DevCluster = """
        Usage: osai dev-cluster --kubeconfig FILE [--gpu-nodes N] [--port N]

        Runs a small in-process Kubernetes API (core/v1 pods, nodes, namespaces over plain HTTP on
        127.0.0.1) until Ctrl+C, and writes a kubeconfig for it. Each pod's container runs as a local
        process with its own loopback IP (127.0.1.N); images osforai/worker-python* and
        osforai/worker-onnx* run this installation's Python runner and .NET model worker. kubectl and
        `osai serve --worker-host kubernetes --kubeconfig FILE` can use it.

        Options:
          --kubeconfig FILE  Where to write the kubeconfig (required)
          --gpu-nodes N      GPU nodes besides the CPU node (default 0): label osforai.dev/pool=gpu,
                             taint nvidia.com/gpu=true:NoSchedule, allocatable nvidia.com/gpu: 1
          --port N           TCP port on 127.0.0.1 (default 0: a free one)
        """;

    public const string Keys = """
        Usage: osai keys <create|list|revoke> [options]

          keys create --owner NAME --scopes SCOPE[,SCOPE...] [--name LABEL] [--grants GRANT[,GRANT...]]
          keys list
          keys revoke ID

        Run 'osai keys <subcommand> --help' for details.
        """;

    public const string KeysCreate = """
        Usage: osai keys create --owner NAME --scopes SCOPE[,SCOPE...] [--name LABEL] [--grants GRANT[,GRANT...]] [client options]

        Creates an API key and prints only the key on standard output, e.g.
          KEY=$(osai keys create --owner alice --scopes call,publish)

        Options:
          --owner NAME      User the key acts as (required)
          --scopes LIST     Comma-separated scopes, e.g. call,publish (required)
          --name LABEL      Label to recognise the key by
          --grants LIST     Comma-separated data grants beyond the owner's own data:// space, each
                            r:, w: or rw: and a URI prefix, e.g. r:s3+prod://bucket/public/
          --url, --key, --home   see 'osai --help'
        """;

    public const string KeysList = """
        Usage: osai keys list [client options]

        Lists all API keys as a table.
        """;

    public const string KeysRevoke = """
        Usage: osai keys revoke ID [client options]

        Revokes the API key with id ID (see 'osai keys list').
        """;

    public const string Algo = """
        Usage: osai algo <publish|build|list|info|deprecate|delete|audit> [arguments] [options]

          algo publish DIR --name OWNER/NAME --version X.Y.Z [--public|--private] [--description TEXT]
          algo build DIR --name OWNER/NAME
          algo list
          algo info OWNER/NAME
          algo deprecate OWNER/NAME X.Y.Z [--undo]
          algo delete OWNER/NAME[/X.Y.Z]
          algo audit OWNER/NAME [--limit N]

        Run 'osai algo <subcommand> --help' for details.
        """;

    public const string AlgoPublish = """
        Usage: osai algo publish DIR --name OWNER/NAME --version X.Y.Z [options] [client options]

        Packs DIR (which must contain algorithm.yaml) as a tar.gz archive, uploads it, waits
        for the server to build it (installing requirements.txt, checking that the entrypoint
        loads; the build log is shown as it runs), and publishes the build as version X.Y.Z.
        A failed build prints its log, publishes nothing and exits 1. Creates the algorithm
        if needed. Skipped while packing: .git, __pycache__, node_modules, *.pyc, links.

        Options:
          --name OWNER/NAME     Algorithm to publish to (required)
          --version X.Y.Z       Version number, MAJOR.MINOR.PATCH (required)
          --public              Publish the version publicly
          --private             Publish the version privately
          --description TEXT    Description when the algorithm is created
        """;

    public const string AlgoBuild = """
        Usage: osai algo build DIR --name OWNER/NAME [options] [client options]

        Packs and uploads DIR like 'algo publish' and waits for the build (its log is shown
        as it runs), but publishes nothing: prints the build's hash on stdout. Its owner can
        call it as OWNER/NAME/HASH and publish it later. A failed build prints its log and
        exits 1. Creates the algorithm if needed.

        Options:
          --name OWNER/NAME     Algorithm to build for (required)
          --description TEXT    Description when the algorithm is created
        """;

    public const string AlgoList = """
        Usage: osai algo list [client options]

        Lists the algorithms you can see.
        """;

    public const string AlgoInfo = """
        Usage: osai algo info OWNER/NAME [client options]

        Shows an algorithm's description and its versions (deprecated ones marked).
        """;

    public const string AlgoDeprecate = """
        Usage: osai algo deprecate OWNER/NAME X.Y.Z [--undo] [client options]

        Deprecates version X.Y.Z: version ranges (1.*, 1.2.*) and latest skip it from now on,
        while OWNER/NAME/X.Y.Z still calls it; its answers carry a Deprecation header and
        "deprecated": true in their metadata. Owner or admin only; recorded in the audit trail.

        Options:
          --undo    Take the deprecation back
        """;

    public const string AlgoDelete = """
        Usage: osai algo delete OWNER/NAME/X.Y.Z [client options]
               osai algo delete OWNER/NAME [client options]

        With a version: deletes it. Calls to OWNER/NAME/X.Y.Z then answer 410 Gone, ranges and
        latest resolve among the remaining versions, the number is never published again, and
        its build is deleted when no other version uses it. Calls already running finish.
        Without a version: deletes an algorithm that has no versions left, with its builds.
        Owner or admin only; recorded in the audit trail. There is no undo.
        """;

    public const string AlgoAudit = """
        Usage: osai algo audit OWNER/NAME [--limit N] [client options]

        Lists the audit trail of an algorithm, newest first: who (owner and key id) created it,
        published, deprecated or deleted a version, or deleted it, and when. Owner or admin only.

        Options:
          --limit N    At most N entries (default 100, at most 1000)
        """;

    public const string Call = """
        Usage: osai call OWNER/NAME[/VERSION] INPUT [options] [client options]

        Calls an algorithm and prints its result (JSON indented, text as-is, binary as base64).
        The algorithm's printed output (with --stdout) goes to standard error.

        INPUT:
          @PATH     the file's bytes, sent as binary
          -         standard input, sent as binary
          TEXT      sent as JSON when it parses as JSON, else as text

        Options:
          --json          Send INPUT as JSON
          --text          Send INPUT as text
          --timeout S     Give up after S seconds (server side)
          --stdout        Return what the algorithm printed
          --out FILE      Write the result to FILE (binary results are decoded; a result too large to
                          return inline, stored as data://…/.results/…, is downloaded into FILE)
          --async         Queue the call as a job and print its ID (see 'osai jobs get ID --wait')
        """;

    public const string Jobs = """
        Usage: osai jobs <get|list> [arguments] [options]

          jobs get ID [--wait [--timeout S]] [--out FILE]
          jobs list [--limit N]

        Run 'osai jobs <subcommand> --help' for details.
        """;

    public const string JobsGet = """
        Usage: osai jobs get ID [--wait [--timeout S]] [--out FILE] [client options]

        Shows an asynchronous call (osai call --async) by its ID. A finished job prints its result as
        'osai call' does (exit 0) or its error (exit 1). A job still queued or running prints its status
        (queued, running) and exits with 3, unless --wait waits for it to finish.

        Options:
          --wait          Wait until the job has finished
          --timeout S     With --wait: give up after S seconds (exit 3; the job goes on)
          --out FILE      Write the result to FILE (binary results are decoded)
        """;

    public const string JobsList = """
        Usage: osai jobs list [--limit N] [client options]

        Lists your jobs, newest first (an admin key lists everyone's).

        Options:
          --limit N       At most N jobs (1-1000, default 50)
        """;

    public const string Data = """
        Usage: osai data <ls|cp|rm|cat> [arguments] [options]

          data ls [URI]
          data cp SRC DST
          data rm URI [--recursive]
          data cat URI

        URIs: data://OWNER/path (data://.my/path is your own), s3://, azure://, gs://, hdfs://,
        dropbox://, file://, http(s):// (see docs/data.md); anything without :// is a local path.
        Run 'osai data <subcommand> --help' for details.
        """;

    public const string DataLs = """
        Usage: osai data ls [URI] [client options]

        Lists a folder (default data://.my/, your own) as NAME, SIZE, MODIFIED; folders end in '/'.
        A file's URI lists that file alone.
        """;

    public const string DataCp = """
        Usage: osai data cp SRC DST [client options]

        Copies one file. Either side is a URI (data://.my/in/a.csv, s3+prod://bucket/key, ...) or a local path:
          osai data cp sales.csv data://.my/in/         upload (a DST ending in '/' keeps the file's name)
          osai data cp data://.my/out/r.json .          download (into a folder: the file's name)
          osai data cp data://.my/a s3://bucket/a       between stores, streamed through this machine
        '-' as SRC reads standard input; '-' as DST writes standard output. Transfers stream (nothing is
        held in memory) with progress on a terminal. A download is written under a temporary name and
        moved into place when complete, so a broken transfer leaves no partial file.
        """;

    public const string DataRm = """
        Usage: osai data rm URI [--recursive] [client options]

        Deletes a file, or an empty folder.

        Options:
          --recursive     Delete a folder and everything in it
        """;

    public const string DataCat = """
        Usage: osai data cat URI [client options]

        Writes a file's bytes to standard output.
        """;

    public const string ExampleModel = """
        Usage: osai example-model NAME DIR

        Writes a small real ONNX model as DIR/model.onnx (creating DIR), to try model serving with.
        Publish it with an algorithm.yaml that says 'runtime: onnx'.

        Models:
          linear    x FP32 [N,4] -> y FP32 [N,2]: y[0] is the sum of x's four values, y[1] their mean
        """;

    public const string Sim = """
        Usage: osai sim [--traces DIR] [--out DIR] [--only LIST] [--quick] [--docs FILE] [--json FILE]

        Runs the trace-driven studies (keepalive: the Azure Functions traces; autoscaler: the
        Azure LLM traces; seefood: the SeeFood regimes; chains: pre-warming chains; gpu: GPU
        cold starts, pod-per-model against warm generic GPU pods), writes
        their figures (SVG) and OUT/report.md, and prints a summary table. Each study tunes
        OSForAI's knobs on the first half of each trace and reports the second half.
        Traces are found by file name anywhere under DIR: invocations.csv or
        invocations_per_function_md.anon.dNN.csv (with their durations and memory files),
        AzureLLMInferenceTrace_*.csv; .csv.gz also. See docs/scaling.md for the layout.
        Progress goes to standard error.
        Exit code: 0 when every study ran (or was skipped), 1 when one failed, 2 on bad input.

        Options:
          --traces DIR    Folder holding the traces, searched recursively
                          (else $OSAI_TRACES; without either, trace studies are skipped)
          --out DIR       Output folder (default ./sim-out)
          --only LIST     Comma-separated study names: keepalive,autoscaler,seefood,chains
          --quick         Smaller inputs (e.g. the first 2 hours of each Functions trace)
          --docs FILE     Also write the report to FILE, with figures in a scaling/ folder beside it
          --json FILE     Also write every result row as JSON: {"rows":[...]}, one row per
                          study x trace x policy (fields in docs/scaling.md)
        """;
}
