using Amazon;
using Amazon.Runtime;
using Amazon.S3;

namespace OSForAI.Data.S3;

/// <summary>
/// The settings of one s3[+label] connector. ServiceUrl points it at an S3-compatible store
/// (MinIO, Ceph, GCS with HMAC keys, ...); without it the AWS endpoint of Region is used. Credentials: AccessKeyId +
/// SecretAccessKey (+ SessionToken), or Credentials=WorkloadIdentity for EKS Pod Identity (<see cref="PodIdentityCredentials"/>).
/// </summary>
internal sealed class S3Options
{
    public const int MinPartSize = 5 * 1024 * 1024;
    public const int MaxPartSize = 1024 * 1024 * 1024;
    public const int DefaultPartSize = 8 * 1024 * 1024;

    public required string Key { get; init; }
    public string? ServiceUrl { get; init; }
    public required string Region { get; init; }
    public required AWSCredentials Credentials { get; init; }
    public bool ForcePathStyle { get; init; }
    public int PartSize { get; init; }
    /// <summary>Objects up to this size go up in one PUT; at most <see cref="PartSize"/>.</summary>
    public long MultipartThreshold { get; init; }

    /// <param name="environment">Reads process environment variables (the AWS_* fallback of the default set).</param>
    public static S3Options From(ConnectorSettings settings, Func<string, string?> environment)
    {
        var credentials = settings.Credentials == CredentialSource.WorkloadIdentity
            ? PodIdentityCredentials.FromEnvironment(settings, environment)
            : Keys(settings, environment);

        var serviceUrl = settings.Get("ServiceUrl");
        if (serviceUrl is not null && !(Uri.TryCreate(serviceUrl, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"))
            throw Invalid(settings, "ServiceUrl", "an absolute http(s) URL");
        var partSize = settings.Long("PartSizeBytes", DefaultPartSize);
        if (partSize is < MinPartSize or > MaxPartSize)
            throw Invalid(settings, "PartSizeBytes", $"between {MinPartSize} (5 MiB, the S3 minimum) and {MaxPartSize}");
        var threshold = settings.Long("MultipartThresholdBytes", partSize);
        if (threshold > partSize) throw Invalid(settings, "MultipartThresholdBytes", "at most PartSizeBytes");

        return new S3Options
        {
            Key = settings.Key,
            ServiceUrl = serviceUrl,
            Region = settings.Get("Region") ?? "us-east-1",
            Credentials = credentials,
            ForcePathStyle = settings.Flag("ForcePathStyle", serviceUrl is not null),
            PartSize = (int)partSize,
            MultipartThreshold = threshold,
        };
    }

    /// <summary>Static keys: the settings', or (unlabelled set only) the standard AWS_* variables.</summary>
    private static AWSCredentials Keys(ConnectorSettings settings, Func<string, string?> environment)
    {
        var accessKeyId = settings.Secret("AccessKeyId");
        var secretKey = settings.Secret("SecretAccessKey");
        string? sessionToken = settings.Secret("SessionToken");
        if (accessKeyId is null && secretKey is null && settings.Label is null)
        {
            // Only the unlabelled set falls back to the standard AWS variables; a labelled set must be explicit.
            accessKeyId = Blank(environment("AWS_ACCESS_KEY_ID"));
            secretKey = Blank(environment("AWS_SECRET_ACCESS_KEY"));
            sessionToken ??= Blank(environment("AWS_SESSION_TOKEN"));
        }
        accessKeyId ??= settings.RequireSecret("AccessKeyId");
        secretKey ??= settings.RequireSecret("SecretAccessKey");
        return sessionToken is null
            ? new BasicAWSCredentials(accessKeyId, secretKey)
            : new SessionAWSCredentials(accessKeyId, secretKey, sessionToken);
    }

    public AmazonS3Config ClientConfig()
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = ForcePathStyle,
            // Bodies are sent whole (no aws-chunked encoding) and SigV4-signed; the newer CRC
            // checksum headers/trailers are left to operations that require them, since many
            // S3-compatible stores do not understand them.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (ServiceUrl is not null)
        {
            config.ServiceURL = ServiceUrl;
            config.AuthenticationRegion = Region;
        }
        else config.RegionEndpoint = RegionEndpoint.GetBySystemName(Region);
        return config;
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static DataException Invalid(ConnectorSettings settings, string name, string expected) => new(DataError.NotConfigured,
        $"OSForAI:Data:S3:{settings.Label ?? "default"}:{name} must be {expected}");
}
