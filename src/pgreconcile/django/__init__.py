"""django"""
