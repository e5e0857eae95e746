using OSForAI.Components.Synthesis;

namespace OSForAI.Components.Stacks;

/// <summary>
/// A cloud's managed PostgreSQL server holding the runtime's state (RDS, Azure Database for PostgreSQL flexible server, Cloud SQL):
/// what every cloud shares. The administrator's password is generated here (the <c>random</c> provider keeps it as a secret in the
/// stack's state; it is never a config value), and <see cref="ConnectionUri"/> is the value of <c>OSForAI:State</c> the runtime
/// connects with. Each cloud's subclass creates the server reachable only from the cluster's network, with TLS required, storage
/// encrypted and automated backups, and says where it answers (<see cref="Host"/>).
/// </summary>
public abstract class ManagedPostgres : ComponentResource
{
    /// <summary>The database the runtime uses, created with the server.</summary>
    public const string DatabaseName = "osforai";
    /// <summary>The administrator the runtime connects as (none of the names the clouds reserve: postgres, admin, azure_superuser…).</summary>
    public const string UserName = "osforai";
    public const int Port = 5432;
    /// <summary>
    /// Encrypted, without checking the server's certificate against a CA: the servers are reachable only inside the cluster's network,
    /// and RDS's and Cloud SQL's certificates are signed by the clouds' own CAs, which the runtime image does not carry.
    /// </summary>
    public const string SslMode = "require";
    /// <summary>Long, and letters and digits only, so it needs no escaping in the connection URI.</summary>
    public const int PasswordLength = 32;

    protected ManagedPostgres(string type, string name, ComponentResource parent) : base(type, name, parent)
    {
        Password = new Resource("random:index/randomPassword:RandomPassword", "password", Expr.Object(
            ("length", PasswordLength),
            ("special", false)), Child());
    }

    /// <summary>The generated administrator password (<c>result</c>, a secret output).</summary>
    public Resource Password { get; }

    /// <summary>The server's address inside the cluster's network (a private DNS name or IP).</summary>
    public abstract Expr Host { get; }

    /// <summary>
    /// <see cref="UserName"/>, as a reference to the resource that creates the user where there is one, so that whatever connects
    /// (the runtime's state Secret) waits for it.
    /// </summary>
    protected virtual Expr UserReference => UserName;

    /// <summary><see cref="DatabaseName"/>, as a reference to the resource that creates the database where there is one.</summary>
    protected virtual Expr DatabaseReference => DatabaseName;

    /// <summary>
    /// <c>postgres://osforai:&lt;password&gt;@&lt;host&gt;:5432/osforai?sslmode=require</c>. Secret by its password (the random provider's
    /// result is a secret output); <see cref="Kubernetes.RuntimeDeployment"/> also marks it so where it keeps it.
    /// </summary>
    public Expr ConnectionUri => Uri(UserReference, Password.Output("result"), Host, Port, DatabaseReference);

    /// <summary>A PostgreSQL connection URI with TLS required, as the runtime's OSForAI:State reads it.</summary>
    public static Interp Uri(Expr user, Expr password, Expr host, int port, Expr database) =>
        Expr.Concat("postgres://", user, ":", password, "@", host, ":", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "/", database, "?sslmode=", SslMode);
}
