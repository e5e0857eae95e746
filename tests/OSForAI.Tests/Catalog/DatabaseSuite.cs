using OSForAI.Runtime.Storage;
using OSForAI.Tests.Support;

namespace OSForAI.Tests.Catalog;

/// <summary>
/// What a suite run against each state backend shares: a fake clock, the backend's database (made once a test, reopened as another
/// server would), and disposal of every database a test opened. The backends' subclasses say how to make and reopen one.
/// </summary>
public abstract class DatabaseSuite : IDisposable
{
    private readonly List<Database> _opened = [];
    protected readonly FakeClock Clock = new();

    /// <summary>A fresh, migrated database of the backend under test; the same one each call within a test.</summary>
    protected abstract Task<Database> CreateAsync();

    /// <summary>Opens the database <see cref="CreateAsync"/> made again (another server on the same state).</summary>
    protected abstract Database Reopen();

    protected async Task<Database> DbAsync() => Track(await CreateAsync());

    protected Database Track(Database db)
    {
        _opened.Add(db);
        return db;
    }

    public void Dispose()
    {
        foreach (var db in _opened) db.Dispose();
        GC.SuppressFinalize(this);
    }
}
