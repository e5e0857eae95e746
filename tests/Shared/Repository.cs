namespace OSForAI.Testing;

/// <summary>The repository checkout the test or benchmark binaries were built from.</summary>
public static class Repository
{
    /// <summary>The folder holding OSForAI.sln, found by walking up from the binaries.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "OSForAI.sln"))) return d.FullName;
        throw new InvalidOperationException($"cannot find the repository root (OSForAI.sln) above {AppContext.BaseDirectory}");
    }
}
