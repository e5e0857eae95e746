using OSForAI.Runtime.Auth;
using OSForAI.Runtime.Data;

namespace OSForAI.Tests.Data;

public sealed class StorageUriTests
{
    [Theory]
    [InlineData("s3://bucket/a/b.txt", "s3", null, "bucket", "a/b.txt", false)]
    [InlineData("s3+prod://bucket/a/", "s3", "prod", "bucket", "a", true)]
    [InlineData("azureblob://c/x", "azure", null, "c", "x", false)]
    [InlineData("data://.my/f%20g.txt", "data", null, ".my", "f g.txt", false)]
    [InlineData("alice/notes.txt", "data", null, "alice", "notes.txt", false)]
    [InlineData("hdfs://user/x/y", "hdfs", null, "", "user/x/y", false)]
    [InlineData("dropbox://", "dropbox", null, "", "", true)]
    [InlineData("gs://b", "gs", null, "b", "", true)]
    public void Parses_scheme_label_container_and_key(string text, string scheme, string? label, string container, string key, bool directory)
    {
        var u = StorageUri.Parse(text);
        Assert.Equal((scheme, label, container, key, directory), (u.Scheme, u.Label, u.Container, u.Key, u.IsDirectory));
    }

    [Theory]
    [InlineData("", DataError.BadPath)]
    [InlineData("ftp://host/x", DataError.NotConfigured)]
    [InlineData("s3+bad!label://b/k", DataError.BadPath)]
    [InlineData("s3://", DataError.BadPath)]
    [InlineData("s3://b/../k", DataError.BadPath)]
    [InlineData("s3://b/%2e%2e/k", DataError.BadPath)]
    [InlineData("s3://b/a%2fb", DataError.BadPath)]
    [InlineData("s3://b/a%5cb", DataError.BadPath)]
    [InlineData("s3://b/a%252fb", DataError.BadPath)]
    [InlineData("s3://b//k", DataError.BadPath)]
    [InlineData("s3://b/k?x=1", DataError.BadPath)]
    [InlineData("s3://b/%zz", DataError.BadPath)]
    [InlineData("s3://b/a\u0001", DataError.BadPath)]
    [InlineData("https://user:pw@example.com/x", DataError.BadPath)]
    [InlineData("https+x://example.com/x", DataError.BadPath)]
    public void Malformed_uris_are_refused_with_a_kind(string text, DataError kind)
    {
        var e = Assert.Throws<DataException>(() => StorageUri.Parse(text));
        Assert.Equal(kind, e.Kind);
        Assert.DoesNotContain("pw", e.Message);
    }

    [Fact]
    public void Round_trips_through_its_text_form()
    {
        foreach (var text in new[] { "s3+prod://bucket/a%20b/c.txt", "data://alice/x/", "hdfs://a/b", "https://example.com/a/b" })
            Assert.Equal(text, StorageUri.Parse(text).ToString());
    }

    [Theory]
    [InlineData("r:s3://b/data/", "s3://b/data/x.csv", false, true)]
    [InlineData("r:s3://b/data", "s3://b/database/x.csv", false, false)]   // prefixes end at segment boundaries
    [InlineData("r:s3://b/data/", "s3://b/data/x.csv", true, false)]       // read grant, write asked
    [InlineData("w:s3://b/", "s3://b/x", false, false)]
    [InlineData("rw:s3://b/", "s3://b/x", true, true)]
    [InlineData("rw:s3://b/", "s3+prod://b/x", false, false)]            // labels are different credentials
    [InlineData("r:gs://*", "gs://any/x", false, true)]
    [InlineData("r:https://example.com/open/", "https://example.com/open/a.csv", false, true)]
    [InlineData("r:https://example.com/open", "https://example.com/opener", false, false)]
    [InlineData("rw:data://team/shared/", "data://team/shared/a", true, true)]
    [InlineData("rw:data://team/shared/", "data://team/private/a", false, false)]
    public void A_grant_covers_its_prefix_for_its_access(string grant, string uri, bool write, bool covered) =>
        Assert.Equal(covered, DataGrant.Parse(grant).Covers(StorageUri.Parse(uri), write));

    [Theory]
    [InlineData("s3://b/")]
    [InlineData("x:s3://b/")]
    [InlineData("rw:https://example.com/")]
    [InlineData("r:ftp://x/")]
    public void Bad_grants_are_refused(string grant) => Assert.Throws<DataException>(() => DataGrant.Parse(grant));

    [Fact]
    public void The_policy_gives_owners_their_space_grants_their_prefixes_and_the_platform_space_to_admins_only()
    {
        var bob = new Principal("k", "bob", Scopes.Call, [DataGrant.Parse("r:s3://b/pub/")]);
        DataService.Authorize(bob, StorageUri.Parse("data://bob/x"), write: true);
        DataService.Authorize(bob, StorageUri.Parse("s3://b/pub/x"), write: false);
        Assert.Equal(DataError.Forbidden, Assert.Throws<DataException>(() => DataService.Authorize(bob, StorageUri.Parse("s3://b/pub/x"), true)).Kind);
        Assert.Equal(DataError.Forbidden, Assert.Throws<DataException>(() => DataService.Authorize(bob, StorageUri.Parse("data://alice/x"), false)).Kind);
        var sneaky = bob with { DataGrants = [DataGrant.Parse("rw:data://.osforai/")] };
        Assert.Throws<DataException>(() => DataService.Authorize(sneaky, StorageUri.Parse("data://.osforai/code/x"), false));
        DataService.Authorize(new Principal("a", "root", Scopes.Admin), StorageUri.Parse("data://.osforai/code/x"), true);
        Assert.Equal("bob", DataService.Resolve(StorageUri.Parse("data://.my/x"), bob).Container);
        var readOnlyKey = new Principal("p", "bob", Scopes.None);
        Assert.Throws<DataException>(() => DataService.Authorize(readOnlyKey, StorageUri.Parse("data://bob/x"), write: true));
    }
}
