import Triage

extension AlertDecoder {
    /// The decoder the workers (and the tools) run with `pipeline`: default limits except
    /// the record size and the alerts per record, which are configured.
    public static func configured(by pipeline: PipelineSettings) -> AlertDecoder {
        AlertDecoder(limits: DecodingLimits(maxRecordBytes: pipeline.maxRecordBytes, maxAlertsPerRecord: pipeline.maxAlertsPerPayload))
    }
}
