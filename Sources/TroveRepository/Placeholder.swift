// TroveRepository
